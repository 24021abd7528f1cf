//! The routes. Each area's module gives an `OpenApiRouter`; [`api_router`] merges them, so
//! the served routes and `/openapi.json` come from one source.

pub mod admin;
pub mod auth;
pub mod health;
pub mod me;
pub mod openapi;
pub mod patient_data;
pub mod patient_overview;
pub mod patients;
pub mod sync;

use axum::Router;
use utoipa_axum::router::OpenApiRouter;

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
    crate::http::with_middleware(router.with_state(state))
}
