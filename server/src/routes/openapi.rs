//! The OpenAPI 3.1 description, generated from the handlers.

use std::sync::Arc;

use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Extension, Router};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, OpenApi, OpenApiBuilder, Ref, RefOr,
    ResponseBuilder,
};

use crate::http::MAX_BODY_BYTES;
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

/// Documents what the middleware answers for every route taking a body, which the handlers'
/// annotations cannot see: 413 `payload_too_large` over [`MAX_BODY_BYTES`]. (404 and 405
/// come from the fallbacks, for any path, and need no per-route entry.)
pub fn document_middleware_answers(document: &mut OpenApi) {
    let description = format!(
        "Body over {} MiB (the server-wide limit)",
        MAX_BODY_BYTES / (1024 * 1024)
    );
    for item in document.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.options,
            &mut item.head,
            &mut item.patch,
            &mut item.trace,
        ];
        for operation in operations.into_iter().flatten() {
            if operation.request_body.is_none() {
                continue;
            }
            let responses = &mut operation.responses.responses;
            // A route's own, narrower 413 (push) stays.
            responses.entry("413".to_string()).or_insert_with(|| {
                RefOr::T(
                    ResponseBuilder::new()
                        .description(description.clone())
                        .content(
                            "application/json",
                            ContentBuilder::new()
                                .schema(Some(Ref::from_schema_name("ErrorBody")))
                                .build(),
                        )
                        .build(),
                )
            });
        }
    }
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
    document_middleware_answers(&mut document);
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
