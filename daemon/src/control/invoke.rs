//! `POST /endpoints/{name}/invoke`: `edgeserve endpoint invoke` scores through the same path as
//! the data plane (deployment choice, mirroring, queue, traffic event), authorized as the
//! control-socket caller instead of by key.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Extension, Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

use super::{Action, Caller};
use crate::auth::Identity;
use crate::codec::seed;
use crate::error::ApiError;
use crate::route::dispatch::{self, Call};
use crate::route::{PeerAddr, RequestId};
use crate::state::AppState;

/// Scores a seed-style request on the endpoint (`x-deployment` pins a deployment).
pub async fn invoke(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
    Extension(request_id): Extension<RequestId>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let mut call = Call::new(
        &name,
        PeerAddr { addr: SocketAddr::from(([0, 0, 0, 0], 0)), cert_cn: None },
        request_id,
    );
    call.auth_mode = "control";
    call.identity = Some(Identity::UnixUser(caller.describe()));
    let result = async {
        caller.authorize(&app, Action::Score, super::Scope::endpoint(&name))?;
        let table = app.table();
        let endpoint = table
            .endpoint(&name)
            .cloned()
            .ok_or_else(|| ApiError::from(crate::manage::endpoint_missing(&app, &name)))?;
        let value = crate::route::body::read_json(
            &headers,
            body,
            app.settings().limits.max_body_bytes,
            app.request_timeout(),
        )
        .await?;
        let deployment = dispatch::choose(&endpoint, &mut call, &headers)?;
        let (_, signature) = dispatch::loaded(&deployment)?;
        let inputs = seed::decode(&value, signature).map_err(ApiError::invalid_input)?;
        let outputs = dispatch::score(&app, &call, &endpoint, &deployment, inputs).await?;
        // The seed's answer, plus which deployment gave it (the data plane says so in
        // `x-deployment`; the CLI prints the body).
        let mut answer = seed::encode(&outputs, signature);
        answer["deployment"] = serde_json::json!(deployment.record.name);
        Ok::<_, ApiError>(dispatch::json_ok(answer))
    }
    .await;
    call.finish(&app, result.unwrap_or_else(IntoResponse::into_response))
}
