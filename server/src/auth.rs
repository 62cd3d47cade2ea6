//! `ScramAuthenticator`: the startup phase. Checks the database name, runs
//! SCRAM-SHA-256 against stored verifiers, then opens the client's [`Session`].

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use futures::Sink;
use lakehouse_catalog::{RoleStore, ScramVerifier};
use pgwire::api::ClientInfo;
use pgwire::api::ConnectionManager;
use pgwire::api::auth::mechanism::AuthMechanismFactory;
use pgwire::api::auth::sasl::scram::{ScramAuth, ScramSecret};
use pgwire::api::auth::{
    AuthDriver, AuthOutcome, AuthSource, LoginInfo, Password, ServerParameterProvider,
    StartupHandler, protocol_negotiation, save_startup_parameters_to_metadata,
};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};

use crate::cancel::QueryCanceller;
use crate::client_socket::ClientSockets;
use crate::login_guard::LoginGuard;
use crate::server::ServerState;
use crate::session::Session;

/// Looks up SCRAM verifiers; never sees or stores a password.
#[derive(Debug)]
struct RoleVerifiers {
    roles: Arc<RoleStore>,
    /// Keys the mock verifiers of unknown users (see [`ScramVerifier::mock`]).
    mock_secret: [u8; 32],
    /// Iterations a mock verifier claims: those of new verifiers.
    iterations: u32,
}

#[async_trait]
impl AuthSource for RoleVerifiers {
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        // Only SCRAM is offered; no password-returning path exists.
        Err(PgWireError::InvalidPassword(
            login.user().unwrap_or_default().to_string(),
        ))
    }

    async fn get_scram_secret(&self, login: &LoginInfo) -> PgWireResult<(ScramSecret, Option<()>)> {
        let user = login.user().unwrap_or_default().to_string();
        // An unknown user gets a challenge like any other and fails at the
        // proof, as a wrong password does: no user enumeration.
        let verifier = self
            .roles
            .get(&user)
            .and_then(|r| r.verifier)
            .and_then(|v| ScramVerifier::parse(&v))
            .unwrap_or_else(|| ScramVerifier::mock(&user, &self.mock_secret, self.iterations));
        Ok((
            ScramSecret::Verifier {
                salt: verifier.salt,
                iterations: verifier.iterations as usize,
                stored_key: verifier.stored_key,
                server_key: verifier.server_key,
            },
            None,
        ))
    }
}

/// Parameters reported to the client after authentication.
pub struct ServerParameters;

impl ServerParameterProvider for ServerParameters {
    fn server_parameters<C>(&self, client: &C) -> Option<HashMap<String, String>>
    where
        C: ClientInfo,
    {
        // The session exists by now (opened before authentication completes):
        // report its values, startup parameters included.
        if let Some(session) = client.session_extensions().get::<Session>() {
            let mut params: HashMap<String, String> = session
                .with_settings(|s| s.reported())
                .into_iter()
                .collect();
            params.insert("in_hot_standby".into(), "off".into());
            params.insert("scram_iterations".into(), "4096".into());
            return Some(params);
        }
        let user = client.metadata().get("user").cloned().unwrap_or_default();
        let app = client
            .metadata()
            .get("application_name")
            .cloned()
            .unwrap_or_default();
        let mut params = HashMap::from([
            (
                "server_version".to_string(),
                lakehouse_udfs::PG_VERSION.to_string(),
            ),
            ("server_encoding".into(), "UTF8".into()),
            ("client_encoding".into(), "UTF8".into()),
            ("DateStyle".into(), "ISO, MDY".into()),
            ("IntervalStyle".into(), "postgres".into()),
            ("TimeZone".into(), "UTC".into()),
            ("integer_datetimes".into(), "on".into()),
            ("standard_conforming_strings".into(), "on".into()),
            ("in_hot_standby".into(), "off".into()),
            ("default_transaction_read_only".into(), "off".into()),
            ("scram_iterations".into(), "4096".into()),
            ("application_name".into(), app),
        ]);
        params.insert("session_authorization".into(), user);
        Some(params)
    }
}

/// The startup handler.
pub struct ScramAuthenticator {
    state: Arc<ServerState>,
    canceller: Arc<QueryCanceller>,
    driver: AuthDriver<ServerParameters>,
    scram: ScramAuth,
    guard: LoginGuard,
    sockets: Arc<ClientSockets>,
}

impl ScramAuthenticator {
    pub fn new(
        state: Arc<ServerState>,
        connections: Arc<ConnectionManager>,
        canceller: Arc<QueryCanceller>,
        sockets: Arc<ClientSockets>,
    ) -> Self {
        let scram = ScramAuth::new(Arc::new(RoleVerifiers {
            roles: state.roles.clone(),
            mock_secret: rand::random(),
            iterations: state.config.scram_iterations,
        }));
        ScramAuthenticator {
            driver: AuthDriver::new(ServerParameters).with_connection_manager(connections),
            scram,
            guard: LoginGuard::new(state.config.max_connections),
            sockets,
            state,
            canceller,
        }
    }

    fn fatal(code: &str, message: String) -> PgWireError {
        PgWireError::UserError(Box::new(ErrorInfo::new(
            "FATAL".to_string(),
            code.to_string(),
            message,
        )))
    }

    /// After SCRAM succeeded: build the session the connection will use.
    fn open_session<C: ClientInfo>(&self, client: &mut C) -> PgWireResult<()> {
        let user = client.metadata().get("user").cloned().unwrap_or_default();
        let role = self
            .state
            .roles
            .get(&user)
            .ok_or_else(|| PgWireError::InvalidPassword(user.clone()))?;
        let session = self.state.new_session(&role.name, role.superuser);
        let startup = client.metadata().clone();
        session
            .with_settings(|s| {
                s.apply_startup(startup.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            })
            .map_err(|e| Self::fatal(e.sqlstate(), e.message()))?;
        if let Some(socket) = self.sockets.claim(client.socket_addr()) {
            let _ = session.socket.set(socket);
        }
        client.session_extensions().insert(session);
        Ok(())
    }
}

#[async_trait]
impl StartupHandler for ScramAuthenticator {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let source = client.socket_addr().ip();
        let outcome = match message {
            PgWireFrontendMessage::Startup(ref startup) => {
                let slot = self.guard.take_slot().ok_or_else(|| {
                    Self::fatal("53300", "sorry, too many clients already".to_string())
                })?;
                // Freed when the connection (and its extensions) goes away.
                client.session_extensions().insert(slot);
                protocol_negotiation(client, startup).await?;
                save_startup_parameters_to_metadata(client, startup);
                let user = client.metadata().get("user").cloned().unwrap_or_default();
                if user.is_empty() {
                    return Err(PgWireError::UserNameRequired);
                }
                let database = client
                    .metadata()
                    .get("database")
                    .cloned()
                    .unwrap_or_else(|| user.clone());
                if database != self.state.config.database {
                    return Err(Self::fatal(
                        "3D000",
                        format!("database \"{database}\" does not exist"),
                    ));
                }
                // An address that keeps failing waits before its challenge.
                tokio::time::sleep(self.guard.delay_for(source)).await;
                self.driver
                    .begin_authentication(client, self.scram.create())
                    .await?
            }
            PgWireFrontendMessage::PasswordMessageFamily(message) => {
                match self.driver.advance_authentication(client, message).await {
                    Err(PgWireError::InvalidPassword(_)) => {
                        // psql sends an empty SCRAM user name: name the login's.
                        let user = client.metadata().get("user").cloned().unwrap_or_default();
                        self.guard.failed(source);
                        tokio::time::sleep(self.guard.delay_for(source)).await;
                        return Err(Self::fatal(
                            "28P01",
                            format!("password authentication failed for user \"{user}\""),
                        ));
                    }
                    other => other?,
                }
            }
            _ => return Ok(()),
        };
        match outcome {
            AuthOutcome::InProgress => Ok(()),
            AuthOutcome::Authenticated { final_message, .. } => {
                self.guard.succeeded(source);
                self.open_session(client)?;
                self.driver
                    .complete_authentication(client, final_message)
                    .await?;
                // The backend key exists only now: let cancel requests find the session.
                let (pid, key) = client.pid_and_secret_key();
                if let Some(session) = client.session_extensions().get::<Session>() {
                    self.canceller
                        .register(pid, key.to_bytes().to_vec(), &session.cancel);
                }
                Ok(())
            }
        }
    }
}
