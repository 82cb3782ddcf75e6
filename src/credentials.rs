//! Stored OAuth credentials: in the OS keyring (macOS Keychain, Windows Credential Manager, the
//! Secret Service on Linux) where one is available, otherwise a JSON file in the user's config
//! directory, created 0600 inside a 0700 directory, written atomically (temp file + rename) and
//! refused when others can read it. Either way a lock file in that directory keeps two server
//! processes from refreshing at once.

use std::{
    fs::{self, File, OpenOptions},
    io::Write,
    path::{Path, PathBuf},
};

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// What `auth login` stores. Secrets stay `SecretString` in memory; Debug redacts them.
#[derive(Debug, Clone)]
pub struct StoredCredentials {
    pub api_url: String,
    pub client_id: String,
    pub client_secret: SecretString,
    pub access_token: SecretString,
    pub refresh_token: Option<SecretString>,
    /// Epoch seconds when the access token expires.
    pub expires_at: Option<i64>,
    /// Epoch seconds when the access token was issued.
    pub obtained_at: i64,
    pub scope: Option<String>,
    pub subdomain: Option<String>,
    /// Who logged in, for `auth status`.
    pub user: Option<String>,
}

impl StoredCredentials {
    /// Whether the access token should be refreshed now: inside the last tenth of its life
    /// (at most a minute, at least a second) or past it.
    pub fn needs_refresh(&self, now: i64) -> bool {
        match self.expires_at {
            None => false,
            Some(at) => {
                let life = at.saturating_sub(self.obtained_at).max(1);
                let margin = (life / 10).clamp(1, 60);
                now >= at.saturating_sub(margin)
            }
        }
    }
}

#[derive(Serialize, Deserialize)]
struct OnDisk {
    version: u32,
    api_url: String,
    client_id: String,
    client_secret: String,
    access_token: String,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    expires_at: Option<i64>,
    obtained_at: i64,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    subdomain: Option<String>,
    #[serde(default)]
    user: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "{path} can be read by other users; run `chmod 600 {path}` (and `chmod 700` on its \
         directory), or `capsule-mcp auth logout` and log in again"
    )]
    TooOpen { path: String },
    #[error("cannot use {path}: {message}")]
    Io { path: String, message: String },
    #[error(
        "{path} is not a credentials file capsule-mcp wrote ({message}); delete it and run `capsule-mcp auth login`"
    )]
    Corrupt { path: String, message: String },
}

/// Where the credentials live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The OS keyring (entry `capsule-mcp` / `default`).
    Keyring,
    /// `credentials.json` in the config directory.
    File,
}

const KEYRING_SERVICE: &str = "capsule-mcp";
const KEYRING_USER: &str = "default";

/// Picks the backend: `CAPSULE_MCP_CREDENTIAL_STORE` = `file`, `keyring`, or `auto` (the
/// default: the keyring when the OS has one that answers, else the file).
pub fn choose_backend() -> Backend {
    let setting = std::env::var("CAPSULE_MCP_CREDENTIAL_STORE").unwrap_or_default();
    backend_for(&setting, || keyring::Entry::store_status().is_ok())
}

fn backend_for(setting: &str, keyring_available: impl FnOnce() -> bool) -> Backend {
    match setting.trim().to_ascii_lowercase().as_str() {
        "file" => Backend::File,
        "keyring" => Backend::Keyring,
        _ if keyring_available() => Backend::Keyring,
        _ => Backend::File,
    }
}

/// `$CAPSULE_MCP_CONFIG_DIR`, else the OS config directory's `capsule-mcp`
/// (`~/.config/capsule-mcp` on Linux): where the login and the team server's state live.
pub fn config_dir() -> Result<PathBuf, StoreError> {
    match std::env::var_os("CAPSULE_MCP_CONFIG_DIR").filter(|v| !v.is_empty()) {
        Some(dir) => Ok(PathBuf::from(dir)),
        None => Ok(dirs::config_dir()
            .ok_or_else(|| StoreError::Io {
                path: "the config directory".into(),
                message: "no home or config directory is known; set CAPSULE_MCP_CONFIG_DIR".into(),
            })?
            .join("capsule-mcp")),
    }
}

/// The stored credentials (keyring or file) and the lock file beside them.
#[derive(Debug, Clone)]
pub struct TokenFile {
    path: PathBuf,
    backend: Backend,
}

/// Holds the cross-process lock until dropped.
pub struct FileLock {
    file: File,
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = fs4::fs_std::FileExt::unlock(&self.file);
    }
}

impl TokenFile {
    /// A file-backed store at `path`.
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            backend: Backend::File,
        }
    }

    pub fn with_backend(path: PathBuf, backend: Backend) -> Self {
        Self { path, backend }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Where the credentials are, for humans.
    pub fn describe(&self) -> String {
        match self.backend {
            Backend::Keyring => format!("the OS keyring (service `{KEYRING_SERVICE}`)"),
            Backend::File => self.path.display().to_string(),
        }
    }

    fn keyring_entry(&self) -> Result<keyring::Entry, StoreError> {
        keyring::Entry::new(KEYRING_SERVICE, KEYRING_USER).map_err(|e| self.keyring_error(e))
    }

    fn keyring_error(&self, e: keyring::Error) -> StoreError {
        StoreError::Io {
            path: self.describe(),
            message: format!(
                "{e} (set CAPSULE_MCP_CREDENTIAL_STORE=file to keep the login in a file instead)"
            ),
        }
    }

    /// `$CAPSULE_MCP_CONFIG_DIR/credentials.json`, else the OS config directory
    /// (`~/.config/capsule-mcp/credentials.json` on Linux).
    pub fn default_location() -> Result<Self, StoreError> {
        let dir = config_dir()?;
        Ok(Self::with_backend(
            dir.join("credentials.json"),
            choose_backend(),
        ))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, e: std::io::Error) -> StoreError {
        StoreError::Io {
            path: self.path.display().to_string(),
            message: e.to_string(),
        }
    }

    fn dir(&self) -> PathBuf {
        self.path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."))
    }

    /// The stored credentials, `None` when there are none. A file others can read is refused.
    pub fn load(&self) -> Result<Option<StoredCredentials>, StoreError> {
        if self.backend == Backend::Keyring {
            match self.keyring_entry()?.get_password() {
                Ok(text) => return self.parse(&text).map(Some),
                // Nothing in the keyring: a login stored in the file still counts.
                Err(keyring::Error::NoEntry) => {}
                Err(e) => return Err(self.keyring_error(e)),
            }
        }
        let text = match fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.io(e)),
        };
        self.check_private()?;
        self.parse(&text).map(Some)
    }

    fn parse(&self, text: &str) -> Result<StoredCredentials, StoreError> {
        // The serde message can quote a value (a token in the wrong field): say where only.
        let d: OnDisk = serde_json::from_str(text).map_err(|e| StoreError::Corrupt {
            path: self.describe(),
            message: format!(
                "{:?} error at line {} column {}",
                e.classify(),
                e.line(),
                e.column()
            ),
        })?;
        Ok(StoredCredentials {
            api_url: d.api_url,
            client_id: d.client_id,
            client_secret: d.client_secret.into(),
            access_token: d.access_token.into(),
            refresh_token: d.refresh_token.map(Into::into),
            expires_at: d.expires_at,
            obtained_at: d.obtained_at,
            scope: d.scope,
            subdomain: d.subdomain,
            user: d.user,
        })
    }

    #[cfg(unix)]
    fn check_private(&self) -> Result<(), StoreError> {
        use std::os::unix::fs::PermissionsExt;
        let meta = fs::metadata(&self.path).map_err(|e| self.io(e))?;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(StoreError::TooOpen {
                path: self.path.display().to_string(),
            });
        }
        Ok(())
    }

    #[cfg(not(unix))]
    fn check_private(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn ensure_dir(&self) -> Result<(), StoreError> {
        let dir = self.dir();
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder.create(&dir).map_err(|e| self.io(e))
    }

    /// Stores in the keyring, or writes the file atomically: a 0600 temp file in the same
    /// directory, synced, then renamed.
    pub fn save(&self, c: &StoredCredentials) -> Result<(), StoreError> {
        self.ensure_dir()?;
        let d = OnDisk {
            version: 1,
            api_url: c.api_url.clone(),
            client_id: c.client_id.clone(),
            client_secret: c.client_secret.expose_secret().to_owned(),
            access_token: c.access_token.expose_secret().to_owned(),
            refresh_token: c
                .refresh_token
                .as_ref()
                .map(|r| r.expose_secret().to_owned()),
            expires_at: c.expires_at,
            obtained_at: c.obtained_at,
            scope: c.scope.clone(),
            subdomain: c.subdomain.clone(),
            user: c.user.clone(),
        };
        let json = serde_json::to_vec_pretty(&d).map_err(|e| StoreError::Io {
            path: self.path.display().to_string(),
            message: e.to_string(),
        })?;
        if self.backend == Backend::Keyring {
            let text = String::from_utf8_lossy(&json).into_owned();
            self.keyring_entry()?
                .set_password(&text)
                .map_err(|e| self.keyring_error(e))?;
            // An older copy in the file must not outlive the keyring one.
            let _ = fs::remove_file(&self.path);
            return Ok(());
        }
        write_private(&self.path, ".credentials.", &json).map_err(|e| self.io(e))
    }

    /// Deletes the stored credentials; `false` when there were none.
    pub fn delete(&self) -> Result<bool, StoreError> {
        let mut deleted = false;
        if self.backend == Backend::Keyring {
            match self.keyring_entry()?.delete_credential() {
                Ok(()) => deleted = true,
                Err(keyring::Error::NoEntry) => {}
                Err(e) => return Err(self.keyring_error(e)),
            }
        }
        match fs::remove_file(&self.path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(deleted),
            Err(e) => Err(self.io(e)),
        }
    }

    /// Takes the exclusive cross-process lock (blocking).
    pub fn lock(&self) -> Result<FileLock, StoreError> {
        self.ensure_dir()?;
        let lock_path = self.path.with_extension("lock");
        let mut opts = OpenOptions::new();
        opts.create(true).truncate(false).write(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let file = opts.open(&lock_path).map_err(|e| self.io(e))?;
        fs4::fs_std::FileExt::lock_exclusive(&file).map_err(|e| self.io(e))?;
        Ok(FileLock { file })
    }
}

/// Writes `bytes` to `path` atomically and privately: a 0600 temp file beside it (named
/// `{tmp_prefix}{pid}.{random}.tmp`), synced, renamed over it, and the directory synced so the
/// rename survives a crash. The temp file is removed when anything fails.
pub(crate) fn write_private(path: &Path, tmp_prefix: &str, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let tmp = dir.join(format!(
        "{tmp_prefix}{}.{}.tmp",
        std::process::id(),
        fastrand::u64(..)
    ));
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let result = (|| {
        let mut f = opts.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        #[cfg(unix)]
        fs::File::open(dir)?.sync_all()?;
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn creds() -> StoredCredentials {
        StoredCredentials {
            api_url: "http://127.0.0.1:1/api/v2".into(),
            client_id: "cid".into(),
            client_secret: "CANARY-client-secret".to_owned().into(),
            access_token: "CANARY-access".to_owned().into(),
            refresh_token: Some("CANARY-refresh".to_owned().into()),
            expires_at: Some(1_000 + 604_800),
            obtained_at: 1_000,
            scope: Some("read write".into()),
            subdomain: Some("acme".into()),
            user: Some("ted".into()),
        }
    }

    #[test]
    fn round_trip_with_private_modes() {
        let dir = tempfile::tempdir().unwrap();
        let f = TokenFile::new(dir.path().join("cfg").join("credentials.json"));
        assert!(f.load().unwrap().is_none());
        f.save(&creds()).unwrap();
        let back = f.load().unwrap().unwrap();
        assert_eq!(back.access_token.expose_secret(), "CANARY-access");
        assert_eq!(back.subdomain.as_deref(), Some("acme"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(f.path()), 0o600);
            assert_eq!(mode(&dir.path().join("cfg")), 0o700);
        }
        // No temp files are left behind.
        let names: Vec<_> = fs::read_dir(dir.path().join("cfg"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["credentials.json"]);
        assert!(f.delete().unwrap());
        assert!(!f.delete().unwrap());
    }

    #[cfg(unix)]
    #[test]
    fn refuses_a_file_others_can_read() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let f = TokenFile::new(dir.path().join("credentials.json"));
        f.save(&creds()).unwrap();
        fs::set_permissions(f.path(), fs::Permissions::from_mode(0o644)).unwrap();
        let e = f.load().unwrap_err().to_string();
        assert!(e.contains("chmod 600"), "{e}");
        assert!(!e.contains("CANARY"), "{e}");
    }

    #[test]
    fn the_keyring_is_used_where_one_answers_unless_told_otherwise() {
        assert_eq!(backend_for("", || true), Backend::Keyring);
        assert_eq!(backend_for("auto", || false), Backend::File);
        assert_eq!(backend_for("file", || true), Backend::File);
        assert_eq!(backend_for(" Keyring ", || false), Backend::Keyring);
    }

    #[test]
    fn a_corrupt_file_is_reported_without_its_contents() {
        let dir = tempfile::tempdir().unwrap();
        let f = TokenFile::new(dir.path().join("credentials.json"));
        f.save(&creds()).unwrap();
        let text = fs::read_to_string(f.path()).unwrap();
        let broken = text.replace(
            "\"obtained_at\": 1000",
            "\"obtained_at\": \"CANARY-in-wrong-field\"",
        );
        assert_ne!(text, broken);
        fs::write(f.path(), broken).unwrap();
        let e = f.load().unwrap_err().to_string();
        assert!(e.contains("line") && !e.contains("CANARY"), "{e}");
    }

    #[test]
    fn debug_never_shows_secrets() {
        let text = format!("{:?}", creds());
        assert!(!text.contains("CANARY"), "{text}");
    }

    #[test]
    fn refresh_margin_scales_with_the_lifetime() {
        let mut c = creds();
        assert!(!c.needs_refresh(1_000));
        assert!(c.needs_refresh(1_000 + 604_800 - 30));
        c.expires_at = Some(1_000 + 10);
        assert!(!c.needs_refresh(1_000 + 8));
        assert!(c.needs_refresh(1_000 + 9));
    }
}
