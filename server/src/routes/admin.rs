//! `/v1/admin/*`: accounts, care teams, the audit log.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, Time};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::audit::{self, Entry};
use crate::auth::{Caller, PasswordHasher, debug_redacted};
use crate::error::{AppError, ErrorBody};
use crate::json::parse_body;
use crate::path::AppPath;
use crate::query::AppQuery;
use crate::role::Role;
use crate::routes::auth::check_username;
use crate::state::AppState;
use crate::store::{AuditFilter, AuditRecord, CareTeamRecord, UserRecord};

/// Longest care team name, characters.
pub const MAX_TEAM_NAME_CHARS: usize = 200;
/// Most audit records one answer holds.
pub const MAX_AUDIT_RECORDS: usize = 10_000;

/// `POST /v1/admin/users`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// Username.
    pub username: String,
    /// Initial password (at least 10 characters).
    #[schema(min_length = 10)]
    pub password: String,
    /// `clinician`, `researcher` or `admin` (patients enrol with a code).
    pub role: Role,
}

debug_redacted!(NewUser { username, role } secret { password });

/// The answer to `POST /v1/admin/users`.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CreatedUser {
    /// The new user's id.
    pub user_id: Uuid,
}

/// `POST /v1/admin/care-teams`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCareTeam {
    /// The team's name.
    pub name: String,
}

/// The answer to `POST /v1/admin/care-teams`.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CreatedCareTeam {
    /// The new team's id.
    pub care_team_id: Uuid,
}

/// `POST /v1/admin/care-teams/{id}/members`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMember {
    /// A clinician's user id.
    pub user_id: Uuid,
}

/// `GET /v1/admin/audit` filters. Every parameter is read as text and parsed here, so that
/// a bad one is a 422 naming it (serde's own errors name no parameter).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only records about this patient.
    #[param(value_type = Option<Uuid>)]
    pub patient_id: Option<String>,
    /// From this time (RFC 3339) or day (`YYYY-MM-DD`, from its start, UTC), inclusive.
    pub from: Option<String>,
    /// Until this time or day (a day includes all of it), exclusive of a time; not before
    /// `from`.
    pub to: Option<String>,
    /// At most this many records (1 to 10000, default 10000).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 10000)]
    pub limit: Option<String>,
}

/// The admin routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_user))
        .routes(routes!(create_care_team))
        .routes(routes!(add_member))
        .routes(routes!(read_audit))
}

/// Creates a clinician, researcher or admin (shared by the route and the command line).
pub async fn create_user_record(
    passwords: &PasswordHasher,
    username: &str,
    password: String,
    role: Role,
) -> Result<UserRecord, AppError> {
    check_username(username, "username")?;
    PasswordHasher::check_policy(&password, "password")?;
    if role == Role::Patient {
        return Err(AppError::validation(
            "role",
            "patients enrol with a code from their care team",
        ));
    }
    Ok(UserRecord {
        user_id: Uuid::now_v7(),
        username: username.to_lowercase(),
        role,
        password_hash: passwords.hash(password).await?,
        patient_id: None,
        created_at: OffsetDateTime::now_utc(),
    })
}

/// Creates an account.
#[utoipa::path(post, path = "/v1/admin/users", tag = "admin", request_body = NewUser,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = CreatedUser),
        (status = 401, description = "No valid access token", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 409, description = "Username taken", body = ErrorBody),
        (status = 422, description = "Invalid field", body = ErrorBody)))]
pub async fn create_user(
    State(state): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> Result<(StatusCode, Json<CreatedUser>), AppError> {
    caller.require(&[Role::Admin])?;
    let request: NewUser = parse_body(&body)?;
    if state.store.user_by_name(&request.username)?.is_some() {
        return Err(AppError::Conflict(format!(
            "the username `{}` is taken",
            request.username
        )));
    }
    let user = create_user_record(
        &state.passwords,
        &request.username,
        request.password,
        request.role,
    )
    .await?;
    state.store.insert_user(&user)?;
    audit::record(
        &state,
        Entry::by(
            &caller,
            "user.create",
            None,
            format!(
                "user {} `{}` role {}",
                user.user_id, user.username, user.role
            ),
        ),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedUser {
            user_id: user.user_id,
        }),
    ))
}

/// Creates a care team.
#[utoipa::path(post, path = "/v1/admin/care-teams", tag = "admin", request_body = NewCareTeam,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = CreatedCareTeam),
        (status = 401, description = "No valid access token", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 422, description = "Invalid field", body = ErrorBody)))]
pub async fn create_care_team(
    State(state): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> Result<(StatusCode, Json<CreatedCareTeam>), AppError> {
    caller.require(&[Role::Admin])?;
    let request: NewCareTeam = parse_body(&body)?;
    let n = request.name.trim().chars().count();
    if n == 0 || request.name.chars().count() > MAX_TEAM_NAME_CHARS {
        return Err(AppError::validation(
            "name",
            format!("must be 1 to {MAX_TEAM_NAME_CHARS} characters"),
        ));
    }
    let team = CareTeamRecord {
        care_team_id: Uuid::now_v7(),
        name: request.name.trim().to_string(),
        created_at: OffsetDateTime::now_utc(),
    };
    state.store.insert_care_team(&team)?;
    audit::record(
        &state,
        Entry::by(
            &caller,
            "care_team.create",
            None,
            format!("care team {} `{}`", team.care_team_id, team.name),
        ),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedCareTeam {
            care_team_id: team.care_team_id,
        }),
    ))
}

/// Adds a clinician to a care team.
#[utoipa::path(post, path = "/v1/admin/care-teams/{id}/members", tag = "admin", request_body = NewMember,
    params(("id" = Uuid, Path, description = "Care team id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Added"),
        (status = 401, description = "No valid access token", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such care team", body = ErrorBody),
        (status = 422, description = "Not a clinician's id", body = ErrorBody)))]
pub async fn add_member(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<String>,
    body: Bytes,
) -> Result<StatusCode, AppError> {
    caller.require(&[Role::Admin])?;
    let not_found = || AppError::NotFound("no such care team".into());
    let team_id = Uuid::parse_str(&id).map_err(|_| not_found())?;
    state.store.care_team(team_id)?.ok_or_else(not_found)?;
    let request: NewMember = parse_body(&body)?;
    match state.store.user(request.user_id)? {
        Some(user) if user.role == Role::Clinician => {}
        _ => {
            return Err(AppError::validation(
                "user_id",
                "is not a clinician's user id",
            ));
        }
    }
    state.store.add_care_team_member(team_id, request.user_id)?;
    audit::record(
        &state,
        Entry::by(
            &caller,
            "care_team.add_member",
            None,
            format!("user {} joined care team {team_id}", request.user_id),
        ),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

fn parse_bound(text: &str, field: &str, end_of_day: bool) -> Result<OffsetDateTime, AppError> {
    if let Ok(at) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(at);
    }
    let day = taperlog_core::summary::iso_date::parse(text)
        .ok_or_else(|| AppError::validation(field, "must be an RFC 3339 time or YYYY-MM-DD"))?;
    let day = if end_of_day {
        day.next_day().unwrap_or(day)
    } else {
        day
    };
    Ok(day.with_time(Time::MIDNIGHT).assume_utc())
}

/// Reads the audit log, oldest first.
#[utoipa::path(get, path = "/v1/admin/audit", tag = "admin", params(AuditQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Audit records", body = Vec<AuditRecord>),
        (status = 401, description = "No valid access token", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 422, description = "Invalid filter", body = ErrorBody)))]
pub async fn read_audit(
    State(state): State<AppState>,
    caller: Caller,
    AppQuery(query): AppQuery<AuditQuery>,
) -> Result<Json<Vec<AuditRecord>>, AppError> {
    caller.require(&[Role::Admin])?;
    let filter = audit_filter(&query)?;
    let records = state
        .blocking(move |state| Ok(state.store.audit_records(&filter)?))
        .await?;
    Ok(Json(records))
}

/// The filter a query asks for, or a 422 naming the first bad parameter.
fn audit_filter(query: &AuditQuery) -> Result<AuditFilter, AppError> {
    let patient_id = query
        .patient_id
        .as_deref()
        .map(|text| {
            Uuid::parse_str(text).map_err(|_| AppError::validation("patient_id", "must be a UUID"))
        })
        .transpose()?;
    let from = query
        .from
        .as_deref()
        .map(|t| parse_bound(t, "from", false))
        .transpose()?;
    let to = query
        .to
        .as_deref()
        .map(|t| parse_bound(t, "to", true))
        .transpose()?;
    if let (Some(from), Some(to)) = (from, to)
        && from > to
    {
        return Err(AppError::validation("from", "must not be after `to`"));
    }
    let limit = match query.limit.as_deref() {
        None => MAX_AUDIT_RECORDS,
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=MAX_AUDIT_RECORDS).contains(&n) => n,
            _ => {
                return Err(AppError::validation(
                    "limit",
                    format!("must be a whole number from 1 to {MAX_AUDIT_RECORDS}"),
                ));
            }
        },
    };
    Ok(AuditFilter {
        patient_id,
        from,
        to,
        limit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(query: AuditQuery) -> String {
        match audit_filter(&query) {
            Err(AppError::Validation { field, .. }) => field,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_bad_audit_parameter_is_named() {
        let q = |patient_id: Option<&str>,
                 from: Option<&str>,
                 to: Option<&str>,
                 limit: Option<&str>| {
            AuditQuery {
                patient_id: patient_id.map(str::to_string),
                from: from.map(str::to_string),
                to: to.map(str::to_string),
                limit: limit.map(str::to_string),
            }
        };
        assert_eq!(field_of(q(Some("nope"), None, None, None)), "patient_id");
        assert_eq!(field_of(q(Some(""), None, None, None)), "patient_id");
        for limit in ["abc", "-1", "0", "10001", "", "1.5"] {
            assert_eq!(
                field_of(q(None, None, None, Some(limit))),
                "limit",
                "{limit}"
            );
        }
        assert_eq!(
            field_of(q(None, Some("2026-11-20"), Some("2026-11-01"), None)),
            "from"
        );
        assert_eq!(
            field_of(q(
                None,
                Some("2026-11-01T10:00:00Z"),
                Some("2026-11-01T09:00:00Z"),
                None
            )),
            "from"
        );
        assert_eq!(field_of(q(None, Some("yesterday"), None, None)), "from");
        assert_eq!(field_of(q(None, None, Some("soon"), None)), "to");

        let pid = Uuid::now_v7().to_string();
        let ok = audit_filter(&q(
            Some(&pid),
            Some("2026-11-01"),
            Some("2026-11-01"),
            Some("1"),
        ))
        .unwrap();
        assert_eq!(ok.limit, 1);
        assert_eq!(ok.patient_id.map(|p| p.to_string()), Some(pid));
        // A day as `to` includes all of it.
        assert_eq!(ok.to.unwrap() - ok.from.unwrap(), time::Duration::days(1));
        assert_eq!(
            audit_filter(&AuditQuery::default()).unwrap().limit,
            MAX_AUDIT_RECORDS
        );
        assert_eq!(
            audit_filter(&q(None, None, None, Some("10000")))
                .unwrap()
                .limit,
            MAX_AUDIT_RECORDS
        );
    }

    #[test]
    fn debug_output_of_a_new_user_hides_the_password() {
        let user = NewUser {
            username: "alice".into(),
            password: "hunter2-secret-value".into(),
            role: Role::Clinician,
        };
        let debug = format!("{user:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(
            debug.contains("alice") && debug.contains("<redacted>"),
            "{debug}"
        );
    }
}
