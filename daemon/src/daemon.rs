//! The daemon's life: attach pens, bind the socket, serve, shut down cleanly.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use pen_sim::SimPenConfig;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::bench::BenchConfig;
use crate::link::sim::{sim_serial, SimLink};
use crate::link::stream::StreamLink;
use crate::link::LinkError;
use crate::paths::{default_state_dir, json_socket_beside};
use crate::records::{RecordError, RecordStore};
use crate::registry::Registry;
use crate::roles::RoleConfig;
use crate::server::{serve, Context, ServerConfig};
use crate::session::SessionConfig;
use crate::usb::{watch_pens, UsbConfig};
use crate::wire::{JsonLines, Postcard};

/// How long ago simulated pens were calibrated at the factory.
pub const SIM_FACTORY_AGE: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// Everything `pend` needs to run.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// Where to listen (postcard frames).
    pub socket: PathBuf,
    /// Where to listen for newline-delimited JSON, if at all.
    pub json_socket: Option<PathBuf>,
    /// How many simulated pens to attach (0 for none).
    pub sim_pens: usize,
    /// Simulated pens in other processes (`pen-sim --listen PATH`) to attach.
    pub sim_sockets: Vec<PathBuf>,
    /// Pens on USB: which devices, or `None` to leave USB alone.
    pub usb: Option<UsbConfig>,
    /// Pen session timing.
    pub session: SessionConfig,
    /// Socket server limits.
    pub server: ServerConfig,
    /// Bench calibration settings.
    pub bench: BenchConfig,
    /// Where records are kept.
    pub state_dir: PathBuf,
    /// Who may do what on the sockets.
    pub roles: RoleConfig,
    /// The group the sockets (and their folder, if pend makes it) belong to, so its members
    /// can connect; `None` leaves the daemon's own group.
    pub socket_group: Option<u32>,
    /// How long to wait at start for pens to finish connecting before serving.
    pub settle_limit: Duration,
    /// How long shutdown may take to retract the pens.
    pub shutdown_limit: Duration,
}

impl DaemonConfig {
    /// Defaults for everything but the socket path and simulated pens.
    pub fn new(socket: PathBuf, sim_pens: usize) -> DaemonConfig {
        DaemonConfig {
            json_socket: Some(json_socket_beside(&socket)),
            socket,
            sim_pens,
            sim_sockets: Vec::new(),
            usb: Some(UsbConfig::default()),
            session: SessionConfig::default(),
            server: ServerConfig::default(),
            bench: BenchConfig::default(),
            state_dir: default_state_dir(),
            roles: RoleConfig {
                daemon_uid: rustix::process::getuid().as_raw(),
                ..RoleConfig::default()
            },
            socket_group: None,
            settle_limit: Duration::from_secs(3),
            shutdown_limit: Duration::from_secs(3),
        }
    }
}

/// The daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A simulated pen's socket could not be reached.
    #[error("cannot reach the simulated pen at {path}: {source}; is pen-sim running there?")]
    SimSocket {
        /// The pen's socket.
        path: PathBuf,
        /// Why.
        source: LinkError,
    },
    /// The records database could not be opened.
    #[error("{0}")]
    Records(#[from] RecordError),
    /// Another daemon answers on the socket.
    #[error("another pend is already running on {0}; stop it or pass a different --socket")]
    AlreadyRunning(PathBuf),
    /// The socket's folder could not be made.
    #[error("cannot create the socket folder {path}: {source}")]
    SocketDir {
        /// The folder.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The socket could not be bound or given its permissions.
    #[error("cannot listen on {path}: {source}")]
    Bind {
        /// The socket path.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
}

/// Listening sockets pend did not bind: systemd's, in `pend.socket`'s order.
#[derive(Debug)]
pub struct InheritedSockets {
    /// The postcard socket.
    pub main: std::os::unix::net::UnixListener,
    /// The JSON socket, if the unit has one.
    pub json: Option<std::os::unix::net::UnixListener>,
}

/// A running daemon.
pub struct Daemon {
    registry: Arc<Registry>,
    /// The USB watcher, if USB is watched.
    usb: Option<JoinHandle<()>>,
    /// Whether pend bound the sockets itself (and so removes them at shutdown).
    owns_sockets: bool,
    sockets: Vec<PathBuf>,
    stop: watch::Sender<bool>,
    servers: Vec<JoinHandle<()>>,
    shutdown_limit: Duration,
}

impl Daemon {
    /// Attaches the configured pens, waits for them to connect, binds the socket and starts
    /// serving. When this returns, clients can connect.
    pub async fn start(config: DaemonConfig) -> Result<Daemon, StartError> {
        Daemon::start_on(config, None).await
    }

    /// Like [`Daemon::start`], serving on sockets handed over (by systemd) instead of binding
    /// its own; they are left in place at shutdown, since their owner removes them.
    pub async fn start_on(
        config: DaemonConfig,
        inherited: Option<InheritedSockets>,
    ) -> Result<Daemon, StartError> {
        let records = RecordStore::open(&config.state_dir)?;
        let registry = Arc::new(Registry::new(config.session.clone()));
        // Simulated pens left the factory a month ago.
        let made = config.session.calibration_clock().now_unix_s - SIM_FACTORY_AGE.as_secs();
        for index in 0..config.sim_pens {
            registry.attach(SimLink::spawn(SimPenConfig {
                serial: sim_serial(index),
                seed: index as u64 + 1,
                factory_calibrated_at_unix_s: made,
            }));
        }
        for path in &config.sim_sockets {
            let link = StreamLink::connect(path, config.settle_limit)
                .await
                .map_err(|source| StartError::SimSocket {
                    path: path.clone(),
                    source,
                })?;
            registry.attach(link);
        }
        let usb = match config.usb {
            Some(usb) => watch_pens(registry.clone(), usb).await,
            None => None,
        };
        registry.settle(config.settle_limit).await;
        let (listener, json_listener, owned) = match inherited {
            Some(inherited) => {
                let adopt = |listener: std::os::unix::net::UnixListener| {
                    listener.set_nonblocking(true)?;
                    UnixListener::from_std(listener)
                };
                let path = config.socket.clone();
                let bind_error = |source| StartError::Bind {
                    path: path.clone(),
                    source,
                };
                let main = adopt(inherited.main).map_err(bind_error)?;
                let json = inherited.json.map(adopt).transpose().map_err(bind_error)?;
                (main, json, false)
            }
            None => {
                // The JSON socket first: the main socket appearing means pend is ready, all
                // of it.
                let json_listener = match &config.json_socket {
                    Some(path) => Some(bind_socket(path, config.socket_group).await?),
                    None => None,
                };
                let listener = bind_socket(&config.socket, config.socket_group)
                    .await
                    .inspect_err(|_| {
                        if let Some(path) = &config.json_socket {
                            let _ = std::fs::remove_file(path);
                        }
                    })?;
                (listener, json_listener, true)
            }
        };
        let listening_on = |listener: &UnixListener| {
            listener
                .local_addr()
                .ok()
                .and_then(|a| a.as_pathname().map(Path::to_path_buf))
        };
        let main_path = listening_on(&listener).unwrap_or_else(|| config.socket.clone());
        let json_path = json_listener.as_ref().map(|l| {
            listening_on(l)
                .or_else(|| config.json_socket.clone())
                .unwrap_or_default()
        });
        let context = Arc::new(Context {
            registry: registry.clone(),
            records,
            server: config.server.clone(),
            bench: config.bench.clone(),
            trusted_keys: config.session.trusted_keys.clone(),
            roles: config.roles.clone(),
        });
        let (stop, stopped) = watch::channel(false);
        let mut servers = vec![tokio::spawn(serve(
            listener,
            Postcard,
            context.clone(),
            stopped.clone(),
        ))];
        let mut sockets = vec![main_path.clone()];
        if let (Some(listener), Some(path)) = (json_listener, &json_path) {
            servers.push(tokio::spawn(serve(listener, JsonLines, context, stopped)));
            sockets.push(path.clone());
        }
        info!(
            socket = %main_path.display(),
            json_socket = ?json_path,
            activated = !owned,
            pens = registry.count(),
            "pend listening"
        );
        Ok(Daemon {
            registry,
            usb,
            owns_sockets: owned,
            sockets,
            stop,
            servers,
            shutdown_limit: config.shutdown_limit,
        })
    }

    /// How many pens the daemon knows.
    pub fn pen_count(&self) -> usize {
        self.registry.count()
    }

    /// Where the daemon listens (postcard frames).
    pub fn socket_path(&self) -> &Path {
        &self.sockets[0]
    }

    /// Stops taking clients, retracts every pen, and removes the socket file.
    pub async fn shut_down(self) {
        info!("shutting down: retracting pens");
        let _ = self.stop.send(true);
        if let Some(usb) = self.usb {
            usb.abort();
        }
        for server in self.servers {
            let _ = server.await;
        }
        self.registry.shut_down_all(self.shutdown_limit).await;
        for socket in self.sockets.iter().filter(|_| self.owns_sockets) {
            if let Err(error) = std::fs::remove_file(socket) {
                warn!(socket = %socket.display(), %error, "could not remove the socket file");
            }
        }
        info!("pend stopped");
    }
}

/// Binds the socket at `path` with mode 0660, clearing a stale socket file left by a daemon
/// that died, but never one a live daemon still answers on.
async fn bind_socket(path: &Path, group: Option<u32>) -> Result<UnixListener, StartError> {
    let give_to_group = |p: &Path| -> io::Result<()> {
        if let Some(gid) = group {
            rustix::fs::chown(p, None, Some(rustix::fs::Gid::from_raw(gid)))?;
        }
        Ok(())
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            std::fs::create_dir_all(dir).map_err(|source| StartError::SocketDir {
                path: dir.to_path_buf(),
                source,
            })?;
            // Owner and group may reach the socket; others may not even look.
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o750));
            let _ = give_to_group(dir);
        }
    }
    if path.exists() {
        if UnixStream::connect(path).await.is_ok() {
            return Err(StartError::AlreadyRunning(path.to_path_buf()));
        }
        info!(socket = %path.display(), "removing a stale socket file");
        let _ = std::fs::remove_file(path);
    }
    let bind_error = |source| StartError::Bind {
        path: path.to_path_buf(),
        source,
    };
    let listener = UnixListener::bind(path).map_err(bind_error)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660)).map_err(bind_error)?;
    give_to_group(path).map_err(bind_error)?;
    Ok(listener)
}
