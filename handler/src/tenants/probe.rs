//! The connection test of a source tenant, run before it is registered and
//! by `guest-sync tenant test`: get a token with the tenant's app and
//! secret, read the group, count its (transitive) user members, and read one
//! member's attributes (proving `User.Read.All`: without it, members come
//! back with their id only).
//!
//! It speaks Microsoft Graph's HTTP API directly (`docs/graph-client.md`,
//! "Graph facts"): a handful of
//! read calls made once by an administrator, so it needs none of the
//! engine's pacing, and every answer can be turned into a message an
//! administrator can act on ([`ConnectionProblem`]).
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use crate::domain::Guid;
use crate::secrets::SecretString;

/// Where the authority and Graph are (public cloud, national clouds, the
/// simulator).
#[derive(Debug, Clone)]
pub struct GraphEndpoints {
    /// `GUESTSYNC_AUTHORITY_URL`, e.g. `https://login.microsoftonline.com`.
    pub authority_url: url::Url,
    /// `GUESTSYNC_GRAPH_URL`, e.g. `https://graph.microsoft.com`.
    pub graph_url: url::Url,
}

impl GraphEndpoints {
    fn base(u: &url::Url) -> String {
        u.as_str().trim_end_matches('/').to_string()
    }

    fn token_url(&self, tenant: Guid) -> String {
        format!(
            "{}/{tenant}/oauth2/v2.0/token",
            Self::base(&self.authority_url)
        )
    }

    fn graph(&self, path: &str) -> String {
        format!("{}/v1.0{path}", Self::base(&self.graph_url))
    }

    /// `https://graph.microsoft.com/.default` (the Graph resource of this
    /// cloud).
    fn scope(&self) -> String {
        format!("{}/.default", self.graph_url.origin().ascii_serialization())
    }
}

/// What the connection test found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionReport {
    /// The group's display name (shown to the admin, never logged).
    pub group_name: Option<String>,
    /// User members of the group, nested groups included.
    pub member_count: u64,
    /// True when a member's attributes were readable (User.Read.All works);
    /// None when the group is empty and the check fell back to reading one
    /// user of the tenant.
    pub attributes_readable: Option<bool>,
    /// Remarks that are not failures (e.g. "the group has no members yet").
    pub notes: Vec<String>,
}

/// Why the connection test failed, in words an administrator can act on.
/// Never contains the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectionProblem {
    #[error("the client secret is wrong for app {client_id} in tenant {tenant_id} (AADSTS7000215): copy the secret's Value (not its Secret ID) from the app registration's Certificates & secrets page and store it again with --secret-stdin")]
    WrongSecret { tenant_id: Guid, client_id: Guid },
    #[error("the client secret of app {client_id} in tenant {tenant_id} has expired (AADSTS7000222): the source admin creates a new one (re-run infra/source-tenant/setup.sh), then store it with --secret-stdin")]
    SecretExpired { tenant_id: Guid, client_id: Guid },
    #[error("app {client_id} is not known in tenant {tenant_id} (AADSTS700016): check the app (client) id, and have the source admin create the app there and grant admin consent (infra/source-tenant/setup.sh)")]
    AppNotInTenant { tenant_id: Guid, client_id: Guid },
    #[error("tenant {tenant_id} was not found (AADSTS90002): check the source tenant id (Directory (tenant) ID on the tenant's Entra overview page)")]
    TenantNotFound { tenant_id: Guid },
    #[error("token request for app {client_id} in tenant {tenant_id} was refused ({code}): {description}")]
    TokenRefused {
        tenant_id: Guid,
        client_id: Guid,
        code: String,
        description: String,
    },
    #[error("group {group_id} was not found in tenant {tenant_id}: check the group id (Object ID on the group's overview page)")]
    GroupNotFound { tenant_id: Guid, group_id: Guid },
    #[error("app {client_id} may not read group {group_id} in tenant {tenant_id}: grant the application permission GroupMember.Read.All with admin consent (HTTP {status}{code})")]
    GroupForbidden {
        tenant_id: Guid,
        client_id: Guid,
        group_id: Guid,
        status: u16,
        code: String,
    },
    #[error("app {client_id} can list the members of group {group_id} but not read their attributes: grant the application permission User.Read.All with admin consent in tenant {tenant_id}")]
    MissingUserReadAll {
        tenant_id: Guid,
        client_id: Guid,
        group_id: Guid,
    },
    #[error("{what} could not be reached: {detail}")]
    Unreachable { what: String, detail: String },
    #[error("Microsoft Graph answered HTTP {status} {code} to {what}: {message}")]
    Graph {
        what: String,
        status: u16,
        code: String,
        message: String,
    },
}

/// The connection tester.
#[derive(Debug, Clone)]
pub struct SourceProbe {
    http: reqwest::Client,
    endpoints: GraphEndpoints,
}

/// `(error code, message)` of a Graph error body.
fn graph_error(body: &Value) -> (String, String) {
    let e = &body["error"];
    (
        e["code"].as_str().unwrap_or("").to_string(),
        e["message"].as_str().unwrap_or("").to_string(),
    )
}

/// The first `AADSTS<digits>` code in an Entra error answer.
fn aadsts_code(body: &Value) -> Option<u64> {
    if let Some(c) = body["error_codes"]
        .as_array()
        .and_then(|a| a.first())
        .and_then(Value::as_u64)
    {
        return Some(c);
    }
    let d = body["error_description"].as_str()?;
    let rest = &d[d.find("AADSTS")? + 6..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// First line of an Entra error description, without the trace/correlation
/// ids and timestamp that follow it.
fn short_description(body: &Value) -> String {
    let d = body["error_description"].as_str().unwrap_or("");
    let cut = d.find(" Trace ID:").unwrap_or(d.len());
    d[..cut].lines().next().unwrap_or("").trim().to_string()
}

impl SourceProbe {
    /// A tester reaching `endpoints` with its own HTTP client.
    pub fn new(endpoints: GraphEndpoints) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .connect_timeout(Duration::from_secs(15))
            .build()
            .unwrap_or_default();
        SourceProbe { http, endpoints }
    }

    /// A tester with a given HTTP client (tests).
    pub fn with_client(endpoints: GraphEndpoints, http: reqwest::Client) -> Self {
        SourceProbe { http, endpoints }
    }

    /// Gets a token for `client_id` in `tenant_id` with `secret`.
    pub async fn token(
        &self,
        tenant_id: Guid,
        client_id: Guid,
        secret: &SecretString,
    ) -> Result<String, ConnectionProblem> {
        let cid = client_id.to_string();
        let scope = self.endpoints.scope();
        let form = [
            ("client_id", cid.as_str()),
            ("client_secret", secret.expose()),
            ("grant_type", "client_credentials"),
            ("scope", scope.as_str()),
        ];
        let rsp = self
            .http
            .post(self.endpoints.token_url(tenant_id))
            .form(&form)
            .send()
            .await
            .map_err(|e| ConnectionProblem::Unreachable {
                what: format!("the Entra token endpoint {}", self.endpoints.authority_url),
                detail: describe_reqwest(&e),
            })?;
        let status = rsp.status();
        let body: Value = rsp.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            return body["access_token"]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| ConnectionProblem::TokenRefused {
                    tenant_id,
                    client_id,
                    code: "no access_token".into(),
                    description: "the token answer carried no access token".into(),
                });
        }
        Err(match aadsts_code(&body) {
            Some(7_000_215) => ConnectionProblem::WrongSecret {
                tenant_id,
                client_id,
            },
            Some(7_000_222) => ConnectionProblem::SecretExpired {
                tenant_id,
                client_id,
            },
            Some(700_016) => ConnectionProblem::AppNotInTenant {
                tenant_id,
                client_id,
            },
            Some(90_002) => ConnectionProblem::TenantNotFound { tenant_id },
            other => ConnectionProblem::TokenRefused {
                tenant_id,
                client_id,
                code: other
                    .map(|c| format!("AADSTS{c}"))
                    .unwrap_or_else(|| format!("HTTP {}", status.as_u16())),
                description: short_description(&body),
            },
        })
    }

    async fn get(
        &self,
        token: &str,
        url: &str,
        what: &str,
        eventual: bool,
    ) -> Result<(u16, Value), ConnectionProblem> {
        let mut attempt = 0u32;
        loop {
            let mut req = self.http.get(url).bearer_auth(token);
            if eventual {
                req = req.header("ConsistencyLevel", "eventual");
            }
            let rsp = req
                .send()
                .await
                .map_err(|e| ConnectionProblem::Unreachable {
                    what: format!("Microsoft Graph {}", self.endpoints.graph_url),
                    detail: describe_reqwest(&e),
                })?;
            let status = rsp.status().as_u16();
            let retry_after = rsp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok());
            let body: Value = rsp.json().await.unwrap_or(Value::Null);
            let transient = status == 429 || (500..=599).contains(&status);
            if transient && attempt < 4 {
                attempt += 1;
                let wait = retry_after.unwrap_or(1u64 << attempt).min(30);
                tracing::debug!(status, attempt, wait, "{what}: retrying");
                tokio::time::sleep(Duration::from_secs(wait)).await;
                continue;
            }
            return Ok((status, body));
        }
    }

    /// Runs the whole test. The secret is only sent to the token endpoint.
    pub async fn test(
        &self,
        tenant_id: Guid,
        client_id: Guid,
        secret: &SecretString,
        group_id: Guid,
    ) -> Result<ConnectionReport, ConnectionProblem> {
        let token = self.token(tenant_id, client_id, secret).await?;
        tracing::debug!(tenant_id = %tenant_id, "connection test: token ok");

        // 1. The group itself.
        let what = format!("reading group {group_id}");
        let (status, body) = self
            .get(
                &token,
                &self
                    .endpoints
                    .graph(&format!("/groups/{group_id}?$select=id,displayName")),
                &what,
                false,
            )
            .await?;
        match status {
            200 => {}
            404 => {
                return Err(ConnectionProblem::GroupNotFound {
                    tenant_id,
                    group_id,
                })
            }
            401 | 403 => {
                let (code, _) = graph_error(&body);
                return Err(ConnectionProblem::GroupForbidden {
                    tenant_id,
                    client_id,
                    group_id,
                    status,
                    code: if code.is_empty() {
                        String::new()
                    } else {
                        format!(" {code}")
                    },
                });
            }
            _ => return Err(self.graph_problem(&what, status, &body)),
        }
        let group_name = body["displayName"].as_str().map(str::to_string);

        // 2. Count the user members (transitively) and look at the first.
        let what = format!("listing the members of group {group_id}");
        let mut url = self.endpoints.graph(&format!(
            "/groups/{group_id}/transitiveMembers/microsoft.graph.user?$select=id,displayName,userPrincipalName,mail&$top=999&$count=true"
        ));
        let mut count: u64 = 0;
        let mut first: Option<Value> = None;
        loop {
            let (status, body) = self.get(&token, &url, &what, true).await?;
            match status {
                200 => {}
                404 => {
                    return Err(ConnectionProblem::GroupNotFound {
                        tenant_id,
                        group_id,
                    })
                }
                401 | 403 => {
                    let (code, _) = graph_error(&body);
                    return Err(ConnectionProblem::GroupForbidden {
                        tenant_id,
                        client_id,
                        group_id,
                        status,
                        code: format!(" {code}"),
                    });
                }
                _ => return Err(self.graph_problem(&what, status, &body)),
            }
            let page = body["value"].as_array().cloned().unwrap_or_default();
            if first.is_none() {
                first = page.first().cloned();
            }
            if let Some(n) = body["@odata.count"].as_u64() {
                // Graph counted for us: no need to page through everyone.
                count = n;
                break;
            }
            count += page.len() as u64;
            match body["@odata.nextLink"].as_str() {
                Some(next) => url = next.to_string(),
                None => break,
            }
        }

        // 3. Attributes readable? (User.Read.All)
        let mut notes = Vec::new();
        let attributes_readable = match &first {
            Some(m) => {
                let readable = ["displayName", "userPrincipalName"]
                    .iter()
                    .any(|k| m[*k].as_str().is_some_and(|s| !s.is_empty()));
                if !readable {
                    return Err(ConnectionProblem::MissingUserReadAll {
                        tenant_id,
                        client_id,
                        group_id,
                    });
                }
                Some(true)
            }
            None => {
                notes.push(format!(
                    "group {group_id} has no user members yet: add users (or groups of users) to it; the first sync will find them"
                ));
                // Fall back to reading any user of the tenant.
                let what = "reading one user of the tenant".to_string();
                let (status, body) = self
                    .get(
                        &token,
                        &self
                            .endpoints
                            .graph("/users?$top=1&$select=id,displayName,userPrincipalName"),
                        &what,
                        false,
                    )
                    .await?;
                match status {
                    200 => {
                        let u = body["value"].as_array().and_then(|a| a.first()).cloned();
                        match u {
                            Some(u)
                                if u["displayName"].is_null()
                                    && u["userPrincipalName"].is_null() =>
                            {
                                return Err(ConnectionProblem::MissingUserReadAll {
                                    tenant_id,
                                    client_id,
                                    group_id,
                                })
                            }
                            Some(_) => Some(true),
                            None => None,
                        }
                    }
                    401 | 403 => {
                        return Err(ConnectionProblem::MissingUserReadAll {
                            tenant_id,
                            client_id,
                            group_id,
                        })
                    }
                    _ => None,
                }
            }
        };
        tracing::info!(tenant_id = %tenant_id, group_id = %group_id, member_count = count, "connection test passed");
        Ok(ConnectionReport {
            group_name,
            member_count: count,
            attributes_readable,
            notes,
        })
    }

    fn graph_problem(&self, what: &str, status: u16, body: &Value) -> ConnectionProblem {
        let (code, message) = graph_error(body);
        ConnectionProblem::Graph {
            what: what.to_string(),
            status,
            code,
            message,
        }
    }
}

/// A reqwest error with its cause (connection refused, DNS, TLS), without
/// the URL (it is named separately by the caller).
fn describe_reqwest(e: &reqwest::Error) -> String {
    let mut s = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "could not connect".to_string()
    } else {
        "request failed".to_string()
    };
    let mut cur = std::error::Error::source(e);
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// AADSTS codes are read from error_codes, or from the description.
    #[test]
    fn aadsts_codes_are_found() {
        assert_eq!(
            aadsts_code(&json!({"error_codes":[7000215],"error_description":"x"})),
            Some(7_000_215)
        );
        assert_eq!(
            aadsts_code(
                &json!({"error_description":"AADSTS700016: Application not found. Trace ID: 1"})
            ),
            Some(700_016)
        );
        assert_eq!(aadsts_code(&json!({})), None);
        assert_eq!(
            short_description(
                &json!({"error_description":"AADSTS1: Bad thing. Trace ID: 1 Correlation ID: 2"})
            ),
            "AADSTS1: Bad thing."
        );
    }

    /// The Graph scope is the Graph URL's origin + /.default.
    #[test]
    fn scope_follows_the_graph_url() {
        let ep = GraphEndpoints {
            authority_url: "https://login.microsoftonline.com".parse().unwrap(),
            graph_url: "https://graph.microsoft.com/".parse().unwrap(),
        };
        assert_eq!(ep.scope(), "https://graph.microsoft.com/.default");
        assert_eq!(
            ep.token_url(Guid::parse_named("11111111-1111-4111-8111-111111111111", "t").unwrap()),
            "https://login.microsoftonline.com/11111111-1111-4111-8111-111111111111/oauth2/v2.0/token"
        );
    }
}
