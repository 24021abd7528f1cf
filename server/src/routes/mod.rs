//! The routes. Each area's module gives an `OpenApiRouter`; [`api_router`] merges them, so
//! the served routes and `/openapi.json` come from one source.

pub mod admin;
pub mod auth;
pub mod enrollment;
pub mod health;
pub mod me;
pub mod openapi;
pub mod password;
pub mod patient_change;
pub mod patient_data;
pub mod patient_overview;
pub mod patients;
pub mod sync;

use axum::Router;
use axum::http::{Method, Uri};
use utoipa_axum::router::OpenApiRouter;

use crate::error::AppError;
use crate::state::AppState;

/// Every documented route. Add an area with one `.merge(...)` line.
pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::base_document())
        .merge(health::routes())
        .merge(auth::routes())
        .merge(me::routes())
        .merge(patients::routes())
        .merge(admin::routes())
        .merge(sync::routes())
        .merge(patient_data::routes())
}

/// The whole application: routes, `/openapi.json`, middleware, state.
pub fn build_app(state: AppState) -> Router {
    let (router, document) = api_router().split_for_parts();
    let router = openapi::serve_document(router, document);
    crate::http::with_middleware(with_fallbacks(router).with_state(state))
}

/// Answers unknown paths (404) and wrong methods (405) with the JSON error body. Goes last:
/// axum gives the 405 fallback only to routes registered before it (it keeps `Allow`).
pub fn with_fallbacks(router: Router<AppState>) -> Router<AppState> {
    router
        .fallback(unknown_route)
        .method_not_allowed_fallback(wrong_method)
}

async fn unknown_route(uri: Uri) -> AppError {
    AppError::NotFound(format!("no route {}", uri.path()))
}

async fn wrong_method(method: Method) -> AppError {
    AppError::MethodNotAllowed(method.to_string())
}
