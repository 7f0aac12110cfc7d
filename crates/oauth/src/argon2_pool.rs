//! Argon2id verification with its CPU and memory bounded, and shared fairly.
//!
//! One verification of an admin-chosen secret or a password costs tens of milliseconds of CPU
//! and 19 MiB of memory (OWASP's parameters). Unbounded, a flood of wrong guesses took a
//! gateway past its memory limit (the allocator kept the freed blocks), so:
//! - at most `slots` verifications run at once per process (one per serving core), on the
//!   blocking pool, never on an async worker;
//! - each runs in a memory buffer taken from a pool that never holds more than `slots`
//!   buffers, reused rather than freed, so memory under any flood stays within idle +
//!   `slots` × the largest `m` verified (19 MiB);
//! - before a slot, a caller passes *gates*: one per client, username and source address it
//!   acts for, each admitting one caller at a time (FIFO), so a flood for one client or from
//!   one address holds at most one slot and everyone else keeps getting theirs. A caller that
//!   cannot pass its gates within [`GATE_WAIT`] is told [`Busy`]: answering it later costs
//!   the flood nothing and keeps queues short.
//!
//! The stored hash is a PHC string; only what verification needs is read from it (algorithm,
//! version, `m`/`t`/`p`, salt, digest), and the digests are compared in constant time.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use argon2::password_hash::{PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use subtle::ConstantTimeEq as _;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How long a caller waits for its gates before it is answered [`Busy`].
pub const GATE_WAIT: Duration = Duration::from_secs(2);

/// The largest `m` (KiB) a stored hash may ask for: a hash asking more (not one Gatehouse
/// wrote) never verifies, rather than letting one stored value size every pool buffer.
pub const MAX_M_COST_KIB: u32 = 64 * 1024;
/// The largest `t` and `p` a stored hash may ask for, for the same reason (CPU).
pub const MAX_T_COST: u32 = 10;
pub const MAX_P_COST: u32 = 4;

/// An Argon2id hash of nothing anyone knows, with Gatehouse's parameters: verifying against it
/// costs what a real verification costs, for unknown clients and users.
pub const DUMMY_PHC: &str = "$argon2id$v=19$m=19456,t=2,p=1$Z2F0ZWhvdXNlLWR1bW15$\
    YWxsIHplcm9zIHdvdWxkIGRvIGp1c3QgYXMgd2VsbC4";

/// A caller could not pass its gates in time: another verification for the same client,
/// username or address is running and others are queued before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

/// Bounded, gated Argon2id verification (see the module docs).
pub struct Argon2Pool {
    slots: Arc<Semaphore>,
    size: usize,
    buffers: Mutex<Vec<Vec<Block>>>,
    /// Buffers allocated so far (each lives until the process ends, in the pool or in use).
    allocated: AtomicUsize,
    gates: Mutex<HashMap<String, Arc<Semaphore>>>,
    gate_wait: Duration,
}

impl std::fmt::Debug for Argon2Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Argon2Pool").field("slots", &self.size).finish_non_exhaustive()
    }
}

static GLOBAL: OnceLock<Argon2Pool> = OnceLock::new();

/// Sets the process' bound, before the first verification; `false` when it was already set
/// (then the first setting stays).
pub fn configure(slots: usize) -> bool {
    GLOBAL.set(Argon2Pool::new(slots, GATE_WAIT)).is_ok()
}

/// The process' pool: as [`configure`]d, else one slot per available CPU.
pub fn global() -> &'static Argon2Pool {
    GLOBAL.get_or_init(|| {
        Argon2Pool::new(std::thread::available_parallelism().map_or(2, |n| n.get()), GATE_WAIT)
    })
}

impl Argon2Pool {
    pub fn new(slots: usize, gate_wait: Duration) -> Self {
        let size = slots.max(1);
        Self {
            slots: Arc::new(Semaphore::new(size)),
            size,
            buffers: Mutex::new(Vec::with_capacity(size)),
            allocated: AtomicUsize::new(0),
            gates: Mutex::new(HashMap::new()),
            gate_wait,
        }
    }

    /// Verifications that may run at once.
    pub fn slots(&self) -> usize {
        self.size
    }

    /// Memory buffers allocated so far; never more than [`Argon2Pool::slots`].
    pub fn buffers_allocated(&self) -> usize {
        self.allocated.load(Ordering::Relaxed)
    }

    /// Passes the gates named by `keys` (each admits one caller at a time), within the pool's
    /// gate wait. Keys are taken in sorted order, so two callers sharing some never deadlock.
    pub async fn enter(&self, keys: &[String]) -> Result<Gate<'_>, Busy> {
        let mut sorted: Vec<&String> = keys.iter().collect();
        sorted.sort();
        sorted.dedup();
        let mut gate = Gate { pool: self, held: Vec::with_capacity(sorted.len()) };
        let passing = async {
            for key in sorted {
                let semaphore = {
                    let mut gates = self.gates.lock().unwrap_or_else(PoisonError::into_inner);
                    gates.entry(key.clone()).or_insert_with(|| Arc::new(Semaphore::new(1))).clone()
                };
                // Registered before waiting, so the entry is cleaned up even if the wait ends
                // by timeout.
                gate.held.push((key.clone(), None));
                let permit = semaphore.acquire_owned().await.map_err(|_| Busy)?;
                if let Some(last) = gate.held.last_mut() {
                    last.1 = Some(permit);
                }
            }
            Ok::<(), Busy>(())
        };
        match tokio::time::timeout(self.gate_wait, passing).await {
            Ok(Ok(())) => Ok(gate),
            _ => Err(Busy),
        }
    }

    /// Whether `presented` matches the PHC string `phc`, computed within the bound in a pooled
    /// buffer. `_gate` is the caller's proof that it passed its gates first.
    pub async fn verify(&self, _gate: &Gate<'_>, presented: &[u8], phc: &str) -> bool {
        let Ok(_slot) = self.slots.clone().acquire_owned().await else { return false };
        let mut buffer = self.take_buffer();
        let (presented, phc) = (presented.to_vec(), phc.to_owned());
        let run = tokio::task::spawn_blocking(move || {
            let ok = verify_phc(&presented, &phc, &mut buffer);
            (ok, buffer)
        });
        match run.await {
            Ok((ok, buffer)) => {
                self.buffers.lock().unwrap_or_else(PoisonError::into_inner).push(buffer);
                ok
            }
            // The buffer went with the panicked task: the next caller allocates another.
            Err(_) => {
                self.allocated.fetch_sub(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// A buffer for one verification: a pooled one, else a new (empty) one that `verify_phc`
    /// sizes. Called holding a slot, so at most `slots` buffers ever exist.
    fn take_buffer(&self) -> Vec<Block> {
        if let Some(buffer) = self.buffers.lock().unwrap_or_else(PoisonError::into_inner).pop() {
            return buffer;
        }
        self.allocated.fetch_add(1, Ordering::Relaxed);
        Vec::new()
    }
}

/// Gates passed (see [`Argon2Pool::enter`]); leaving them admits the next caller of each.
pub struct Gate<'p> {
    pool: &'p Argon2Pool,
    held: Vec<(String, Option<OwnedSemaphorePermit>)>,
}

impl Drop for Gate<'_> {
    fn drop(&mut self) {
        let held = std::mem::take(&mut self.held);
        let mut gates = self.pool.gates.lock().unwrap_or_else(PoisonError::into_inner);
        for (key, permit) in held {
            drop(permit);
            // Only the map holds it: nobody is waiting or inside, so the entry can go.
            if gates.get(&key).is_some_and(|s| Arc::strong_count(s) == 1) {
                gates.remove(&key);
            }
        }
    }
}

/// Verifies `presented` against the PHC string `phc` in `buffer`, growing it to the hash's
/// `m` the first time. Any malformed or out-of-bounds hash is a mismatch.
pub fn verify_phc(presented: &[u8], phc: &str, buffer: &mut Vec<Block>) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else { return false };
    let (Ok(algorithm), Some(expected)) = (Algorithm::try_from(parsed.algorithm), parsed.hash) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(version)) => version,
        Some(Err(_)) => return false,
    };
    let Ok(params) = Params::try_from(&parsed) else { return false };
    if params.m_cost() > MAX_M_COST_KIB || params.t_cost() > MAX_T_COST || params.p_cost() > MAX_P_COST {
        return false;
    }
    let mut salt_bytes = [0u8; Salt::MAX_LENGTH];
    let Some(salt) = parsed.salt.and_then(|salt| salt.decode_b64(&mut salt_bytes).ok()) else {
        return false;
    };
    let blocks = params.block_count();
    if buffer.len() < blocks {
        buffer.resize(blocks, Block::new());
    }
    let mut actual = [0u8; 64];
    let Some(actual) = actual.get_mut(..expected.len()) else { return false };
    let hasher = Argon2::new(algorithm, version, params);
    if hasher.hash_password_into_with_memory(presented, salt, actual, &mut buffer[..]).is_err() {
        return false;
    }
    actual.ct_eq(expected.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chosen(secret: &str) -> String {
        match crate::secret::hash_chosen(secret) {
            Ok(gatehouse_model::SecretHash::Argon2(phc)) => phc,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn verifies_what_the_argon2_crate_hashed_and_nothing_else() {
        let phc = chosen("correct horse");
        let mut buffer = Vec::new();
        assert!(verify_phc(b"correct horse", &phc, &mut buffer));
        assert!(!verify_phc(b"correct horsE", &phc, &mut buffer));
        assert!(!verify_phc(b"", &phc, &mut buffer));
        // The buffer is reused, not regrown: 19 MiB of 1 KiB blocks.
        assert_eq!(buffer.len(), 19 * 1024);
        assert!(verify_phc(b"correct horse", &phc, &mut buffer));
    }

    #[test]
    fn malformed_or_oversized_hashes_never_verify() {
        let mut buffer = Vec::new();
        assert!(!verify_phc(b"x", "not a phc string", &mut buffer));
        assert!(!verify_phc(b"x", "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ", &mut buffer));
        let huge = "$argon2id$v=19$m=4194304,t=2,p=1$c2FsdHNhbHRzYWx0$\
            YWxsIHplcm9zIHdvdWxkIGRvIGp1c3QgYXMgd2VsbC4";
        assert!(!verify_phc(b"x", huge, &mut buffer));
        assert!(buffer.is_empty(), "an oversized hash must not size the buffer");
        assert!(!verify_phc(b"x", DUMMY_PHC, &mut buffer));
        assert_eq!(buffer.len(), 19 * 1024, "the dummy costs a real verification");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_flood_allocates_no_more_buffers_than_slots() {
        let pool = Arc::new(Argon2Pool::new(2, Duration::from_secs(60)));
        let phc = chosen("s3cret");
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..8 {
            let (pool, phc) = (pool.clone(), phc.clone());
            tasks.spawn(async move {
                let gate = pool.enter(&[format!("client:{i}")]).await.unwrap();
                pool.verify(&gate, b"wrong", &phc).await
            });
        }
        while let Some(ok) = tasks.join_next().await {
            assert!(!ok.unwrap());
        }
        assert_eq!(pool.buffers_allocated(), 2);
        let gate = pool.enter(&["client:0".to_owned()]).await.unwrap();
        assert!(pool.verify(&gate, b"s3cret", &phc).await);
        assert_eq!(pool.buffers_allocated(), 2);
    }

    #[tokio::test]
    async fn a_gate_admits_one_caller_and_times_out_the_queue() {
        let pool = Argon2Pool::new(4, Duration::from_millis(100));
        let keys = ["client:a".to_owned(), "addr:1".to_owned()];
        let held = pool.enter(&keys).await.unwrap();
        // Sharing any one key is enough to wait.
        assert_eq!(pool.enter(&["addr:1".to_owned()]).await.err(), Some(Busy));
        assert_eq!(pool.enter(&["client:a".to_owned(), "addr:2".to_owned()]).await.err(), Some(Busy));
        // Other keys pass at once.
        assert!(pool.enter(&["client:b".to_owned(), "addr:2".to_owned()]).await.is_ok());
        drop(held);
        assert!(pool.enter(&keys).await.is_ok());
        // Nobody inside, nobody waiting: no gate left behind.
        assert!(pool.gates.lock().unwrap().is_empty());
    }
}
