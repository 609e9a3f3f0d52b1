//! A small pool of threads for CPU-heavy work on a message: DKIM signing, the MIME re-encoding
//! of the signature, the 7-bit conversion. Owns only its threads. One RSA-2048 signature costs
//! about 1 ms of CPU: run inline, it would hold a tokio worker that long, and every session
//! scheduled on that worker (a new client's greeting too) would wait behind it. Here the session
//! awaits the result without holding its worker.
//!
//! The pool has as many threads as the machine has cores: more could not sign faster, and a
//! burst of signing then takes at most those cores, never all the async workers. Work is moved
//! in and the result moved back out, so a body travels without being copied.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, OnceLock};

type Job = Box<dyn FnOnce() + Send + 'static>;

/// Why a job gave no result.
#[derive(Debug, thiserror::Error)]
pub enum CpuError {
    #[error("the work panicked (a bug); see the log")]
    Panicked,
    #[error("the CPU pool has stopped")]
    Stopped,
}

/// The jobs waiting for a thread. A mutex and a condition variable rather than a channel whose
/// receiver the threads would share behind a mutex: a new job then wakes exactly one idle
/// thread, and taking it wakes no other.
#[derive(Default)]
struct Queue {
    jobs: Mutex<Waiting>,
    ready: Condvar,
}

#[derive(Default)]
struct Waiting {
    jobs: VecDeque<Job>,
    closed: bool,
}

/// The threads and the queue they take work from.
pub struct Pool {
    queue: Arc<Queue>,
    threads: usize,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cpu::Pool({} threads)", self.threads)
    }
}

impl Default for Pool {
    fn default() -> Pool {
        Pool::new(cores())
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.queue.lock().closed = true;
        self.queue.ready.notify_all();
    }
}

/// The machine's cores (1 when unknown).
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The pool the whole process shares, started on first use.
pub fn shared() -> Arc<Pool> {
    static POOL: OnceLock<Arc<Pool>> = OnceLock::new();
    POOL.get_or_init(|| Arc::new(Pool::default())).clone()
}

impl Queue {
    fn lock(&self) -> std::sync::MutexGuard<'_, Waiting> {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The next job, or `None` once the pool is dropped and nothing is left.
    fn next(&self) -> Option<Job> {
        let mut w = self.lock();
        loop {
            if let Some(job) = w.jobs.pop_front() {
                return Some(job);
            }
            if w.closed {
                return None;
            }
            w = self.ready.wait(w).unwrap_or_else(|p| p.into_inner());
        }
    }
}

impl Pool {
    /// `threads` threads named `smarthost-cpu` (so a profile shows what they cost). They end
    /// when the pool is dropped.
    pub fn new(threads: usize) -> Pool {
        let threads = threads.max(1);
        let queue = Arc::new(Queue::default());
        for _ in 0..threads {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name("smarthost-cpu".into())
                .spawn(move || {
                    while let Some(job) = queue.next() {
                        job();
                    }
                })
                .expect("a thread for the CPU pool");
        }
        Pool { queue, threads }
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Runs `f` on a pool thread and waits for its result without holding the caller's worker.
    pub async fn run<T, F>(&self, f: F) -> Result<T, CpuError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            // A panic stays in this job: the thread lives on, the caller gets `Panicked`.
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
            let _ = tx.send(result.map_err(|_| CpuError::Panicked));
        });
        {
            let mut w = self.queue.lock();
            if w.closed {
                return Err(CpuError::Stopped);
            }
            w.jobs.push_back(job);
        }
        self.queue.ready.notify_one();
        rx.await.map_err(|_| CpuError::Stopped)?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn work_runs_on_a_pool_thread_and_its_result_comes_back() {
        let pool = Pool::new(2);
        let body = vec![7u8; 1 << 20];
        let ptr = body.as_ptr() as usize;
        let (name, body) = pool
            .run(move || (std::thread::current().name().map(String::from), body))
            .await
            .unwrap();
        assert_eq!(name.as_deref(), Some("smarthost-cpu"));
        // Moved there and back, never copied.
        assert_eq!(body.as_ptr() as usize, ptr);
    }

    #[tokio::test]
    async fn a_panic_is_an_error_and_the_pool_keeps_working() {
        let pool = Pool::new(1);
        let r = pool.run(|| -> u8 { panic!("boom") }).await;
        assert!(matches!(r, Err(CpuError::Panicked)));
        assert_eq!(pool.run(|| 5).await.unwrap(), 5);
    }

    #[tokio::test]
    async fn the_caller_s_thread_stays_free_while_the_pool_is_busy() {
        // A current-thread runtime: if the job ran inline, the ping below could not run before
        // the job is released.
        let pool = Arc::new(Pool::new(1));
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let p = pool.clone();
        let busy = tokio::spawn(async move { p.run(move || wait.recv().is_ok()).await });
        let ping = tokio::spawn(async { "pong" });
        assert_eq!(ping.await.unwrap(), "pong");
        release.send(()).unwrap();
        assert!(busy.await.unwrap().unwrap());
    }
}
