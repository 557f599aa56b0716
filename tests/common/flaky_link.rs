//! A TCP link on loopback in front of a server that a test can cut and restore: cut, its
//! listening socket and every connection through it close at once (the far side sees a reset
//! or an early end, a new connection is refused); restored, it listens on the same port again.
//! A partner endpoint that flaps, without touching the partner server behind it.

use std::net::SocketAddr;
use std::sync::Mutex;

use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

pub struct FlakyLink {
    pub addr: SocketAddr,
    target: SocketAddr,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl FlakyLink {
    /// A link on a free port of 127.0.0.1 to `target`, up.
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(forward(listener, target));
        Self {
            addr,
            target,
            task: Mutex::new(Some(task)),
        }
    }

    /// `http://<link>/<path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}/{}", self.addr, path.trim_start_matches('/'))
    }

    pub fn is_up(&self) -> bool {
        self.task.lock().unwrap().is_some()
    }

    /// Closes the listening socket and every connection through the link.
    pub fn cut(&self) {
        if let Some(task) = self.task.lock().unwrap().take() {
            task.abort();
        }
    }

    /// Listens on the same port again (a no-op when up).
    pub async fn restore(&self) {
        if self.is_up() {
            return;
        }
        // The aborted task drops its socket when it is next polled: retry the bind briefly.
        let listener = loop {
            let socket = TcpSocket::new_v4().unwrap();
            socket.set_reuseaddr(true).unwrap();
            match socket.bind(self.addr).and_then(|()| socket.listen(1024)) {
                Ok(l) => break l,
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
            }
        };
        *self.task.lock().unwrap() = Some(tokio::spawn(forward(listener, self.target)));
    }
}

impl Drop for FlakyLink {
    fn drop(&mut self) {
        self.cut();
    }
}

/// Accepts and forwards until aborted; aborting drops the listener and the connections.
async fn forward(listener: TcpListener, target: SocketAddr) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((mut inbound, _)) = accepted else { continue };
                connections.spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}
