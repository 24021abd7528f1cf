//! The OpenAPI 3.1 description, generated from the handlers.

use std::sync::Arc;

use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Extension, Router};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ComponentsBuilder, InfoBuilder, OpenApi, OpenApiBuilder};

use crate::state::AppState;

/// Path of the document.
pub const OPENAPI_PATH: &str = "/openapi.json";

/// The name of the bearer security scheme handlers refer to.
pub const BEARER: &str = "bearer";

/// The document before routes are added: info and the bearer scheme.
pub fn base_document() -> OpenApi {
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Taperlog API")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some("The Taperlog server's HTTP API, version 1."))
                .build(),
        )
        .components(Some(
            ComponentsBuilder::new()
                .security_scheme(
                    BEARER,
                    SecurityScheme::Http(
                        HttpBuilder::new()
                            .scheme(HttpAuthScheme::Bearer)
                            .bearer_format("JWT")
                            .build(),
                    ),
                )
                .build(),
        ))
        .build()
}

#[derive(Clone)]
struct Document(Arc<String>);

/// Adds `GET /openapi.json` (documented in itself) to `router`.
pub fn serve_document(router: Router<AppState>, mut document: OpenApi) -> Router<AppState> {
    let item = utoipa::openapi::PathItem::new(
        utoipa::openapi::HttpMethod::Get,
        utoipa::openapi::path::OperationBuilder::new()
            .summary(Some("This OpenAPI document"))
            .operation_id(Some("openapi"))
            .response(
                "200",
                utoipa::openapi::ResponseBuilder::new().description("The OpenAPI 3.1 document"),
            ),
    );
    document.paths.paths.insert(OPENAPI_PATH.to_string(), item);
    let json = document.to_json().unwrap_or_else(|_| "{}".into());
    router
        .route(OPENAPI_PATH, get(openapi_json))
        .layer(Extension(Document(Arc::new(json))))
}

async fn openapi_json(Extension(Document(json)): Extension<Document>) -> impl IntoResponse {
    (
        [(CONTENT_TYPE, "application/json")],
        json.as_str().to_owned(),
    )
}
