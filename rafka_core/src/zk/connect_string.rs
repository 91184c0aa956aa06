//! `zookeeper.connect`: `host1:port1,host2:port2[/chroot/path]`.

/// A parsed `zookeeper.connect` value. Everything from the first `/` is the chroot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZkConnectString {
    /// The server list without the chroot.
    pub hosts: String,
    /// The chroot path (`/a/b`), `None` for the root.
    pub chroot: Option<String>,
}

/// Why a `zookeeper.connect` value is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZkConnectStringError {
    #[error("zookeeper.connect is empty")]
    Empty,
    #[error("zookeeper.connect has an invalid chroot path {0:?}")]
    BadChroot(String),
    #[error("zookeeper.connect has an invalid server {0:?} (expected host:port)")]
    BadServer(String),
}

impl ZkConnectString {
    pub fn parse(s: &str) -> Result<ZkConnectString, ZkConnectStringError> {
        let s = s.trim();
        let (hosts, chroot) = match s.find('/') {
            Some(i) => (&s[..i], Some(&s[i..])),
            None => (s, None),
        };
        if hosts.is_empty() {
            return Err(ZkConnectStringError::Empty);
        }
        for server in hosts.split(',') {
            let ok = server
                .rsplit_once(':')
                .map(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok())
                .unwrap_or(false);
            if !ok {
                return Err(ZkConnectStringError::BadServer(server.to_string()));
            }
        }
        let chroot = match chroot {
            None | Some("/") => None,
            Some(c) => {
                let trimmed = c.trim_end_matches('/');
                if trimmed
                    .split('/')
                    .skip(1)
                    .any(|p| p.is_empty() || p == "." || p == "..")
                {
                    return Err(ZkConnectStringError::BadChroot(c.to_string()));
                }
                Some(trimmed.to_string())
            }
        };
        Ok(ZkConnectString {
            hosts: hosts.to_string(),
            chroot,
        })
    }

    /// The string the client library connects with (servers + chroot).
    pub fn full(&self) -> String {
        match &self.chroot {
            Some(c) => format!("{}{}", self.hosts, c),
            None => self.hosts.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hosts_and_chroot() {
        let c = ZkConnectString::parse("a:2181,b:2182/kafka/prod").unwrap();
        assert_eq!(c.hosts, "a:2181,b:2182");
        assert_eq!(c.chroot.as_deref(), Some("/kafka/prod"));
        assert_eq!(c.full(), "a:2181,b:2182/kafka/prod");
        let c = ZkConnectString::parse("127.0.0.1:2181/").unwrap();
        assert_eq!(c.chroot, None);
        let c = ZkConnectString::parse("127.0.0.1:2181/x/").unwrap();
        assert_eq!(c.chroot.as_deref(), Some("/x"));
    }

    #[test]
    fn rejects_bad_values() {
        assert_eq!(ZkConnectString::parse(""), Err(ZkConnectStringError::Empty));
        assert!(ZkConnectString::parse("localhost").is_err());
        assert!(ZkConnectString::parse("h:1/a//b").is_err());
        assert!(ZkConnectString::parse("h:abc").is_err());
    }
}
