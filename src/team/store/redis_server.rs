//! A throwaway `redis-server` on a free loopback port, for tests: the Redis engine's unit
//! tests and the integration tests where replicas share one Redis. Nothing is saved (no RDB,
//! no AOF, its own temp directory); the server is killed and its directory removed on drop.
//! A missing `redis-server` is an error that says what to install: tests fail, never skip.

use std::{
    io::{Read, Write},
    net::{Ipv4Addr, TcpListener, TcpStream},
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

const INSTALL: &str = "install redis-server (Debian: apt-get install redis-server)";

pub struct RedisServer {
    child: Child,
    dir: PathBuf,
    port: u16,
    password: Option<String>,
}

impl RedisServer {
    /// Starts one without a password.
    pub fn start() -> Result<Self, String> {
        Self::start_with(None)
    }

    /// Starts one that requires `password` (`requirepass`).
    pub fn start_with_password(password: &str) -> Result<Self, String> {
        Self::start_with(Some(password))
    }

    fn start_with(password: Option<&str>) -> Result<Self, String> {
        let mut last = String::new();
        // A free port can be taken between finding it and the server binding it: try again.
        for _ in 0..5 {
            match Self::try_start(password) {
                Ok(s) => return Ok(s),
                Err(Failure::Fatal(e)) => return Err(e),
                Err(Failure::Retry(e)) => last = e,
            }
        }
        Err(format!("redis-server did not start: {last}"))
    }

    fn try_start(password: Option<&str>) -> Result<Self, Failure> {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.local_addr())
            .map_err(|e| Failure::Fatal(format!("no free loopback port: {e}")))?
            .port();
        let dir = std::env::temp_dir().join(format!(
            "capsule-mcp-redis-{}-{}",
            std::process::id(),
            fastrand::u64(..)
        ));
        std::fs::create_dir_all(&dir)
            .map_err(|e| Failure::Fatal(format!("cannot create {}: {e}", dir.display())))?;
        let mut cmd = Command::new("redis-server");
        cmd.arg("--port")
            .arg(port.to_string())
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--daemonize", "no", "--databases", "16"])
            .arg("--dir")
            .arg(&dir);
        if let Some(p) = password {
            cmd.args(["--requirepass", p]);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match child {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(Failure::Fatal(format!(
                    "redis-server is not on PATH: {INSTALL}"
                )));
            }
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(Failure::Fatal(format!(
                    "redis-server did not run ({e}): {INSTALL}"
                )));
            }
        };
        let mut server = Self {
            child,
            dir,
            port,
            password: password.map(str::to_owned),
        };
        server.wait_ready().map_err(Failure::Retry)?;
        Ok(server)
    }

    /// Waits until it answers PING (or fails when it exits, e.g. because the port was taken).
    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let ping: &[u8] = b"*1\r\n$4\r\nPING\r\n";
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("it exited ({status}) on port {}", self.port));
            }
            if let Ok(mut s) = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)) {
                let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
                let mut buf = [0u8; 64];
                if s.write_all(ping).is_ok()
                    && let Ok(n) = s.read(&mut buf)
                {
                    let reply = &buf[..n];
                    // With requirepass, an unauthenticated PING says NOAUTH: it is up.
                    if reply.starts_with(b"+PONG") || reply.starts_with(b"-NOAUTH") {
                        return Ok(());
                    }
                }
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "it did not answer on port {} within 10 s",
                    self.port
                ));
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The process id, to pause it (`kill -STOP`) in a test of a Redis that stops answering.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `redis://[:password@]127.0.0.1:PORT/DB`.
    pub fn url(&self, db: u8) -> String {
        match &self.password {
            Some(p) => format!("redis://:{p}@127.0.0.1:{}/{db}", self.port),
            None => format!("redis://127.0.0.1:{}/{db}", self.port),
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

enum Failure {
    Fatal(String),
    Retry(String),
}
