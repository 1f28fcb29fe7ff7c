//! Work done ahead of its turn on the other cores, handed back in order: the packages of a
//! plan are decompressed while the ones before them are placed.

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

/// Runs `work(0)`, `work(1)`, … `work(n - 1)` on up to `threads` threads, never more than
/// that many results ahead of the one [`Ahead::next`] hands back, which is always the next in
/// order. Dropping it stops the threads after the work they are doing and waits for them,
/// so nothing they write (a download's temporary file) outlives it.
pub(crate) struct Ahead<T> {
    receivers: std::vec::IntoIter<Receiver<T>>,
    state: Arc<(Mutex<State>, Condvar)>,
    /// Set when no thread could be started: the work is then done in [`Ahead::next`].
    inline: Option<(usize, Arc<Work<T>>)>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

type Work<T> = dyn Fn(usize) -> T + Send + Sync;

struct State {
    /// How many results were handed back.
    consumed: usize,
    stop: bool,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<T: Send + 'static> Ahead<T> {
    pub(crate) fn start(n: usize, threads: usize, work: impl Fn(usize) -> T + Send + Sync + 'static) -> Ahead<T> {
        Ahead::start_in(n, (0..n).collect(), Some(threads), threads, work)
    }

    /// [`Ahead::start`] for work whose results are cheap to hold (a file): the largest
    /// (by `sizes`, ties in order) is started first, so that the longest job does not start
    /// last and run alone while the other cores idle; results still come in order, and any
    /// number may wait for their turn.
    pub(crate) fn start_largest_first(
        sizes: &[u64],
        threads: usize,
        work: impl Fn(usize) -> T + Send + Sync + 'static,
    ) -> Ahead<T> {
        let mut order: Vec<usize> = (0..sizes.len()).collect();
        order.sort_by_key(|&i| (std::cmp::Reverse(sizes[i]), i));
        Ahead::start_in(sizes.len(), order, None, threads, work)
    }

    /// Starts the work in `order` (a permutation of `0..n`), a job not before the result
    /// `ahead` places before it was handed back when `ahead` is given.
    fn start_in(
        n: usize,
        order: Vec<usize>,
        ahead: Option<usize>,
        threads: usize,
        work: impl Fn(usize) -> T + Send + Sync + 'static,
    ) -> Ahead<T> {
        let work: Arc<Work<T>> = Arc::new(work);
        let threads = threads.max(1).min(n);
        let (senders, receivers): (Vec<SyncSender<T>>, Vec<Receiver<T>>) = (0..n).map(|_| sync_channel(1)).unzip();
        let mut senders: Vec<Option<SyncSender<T>>> = senders.into_iter().map(Some).collect();
        let queue = Arc::new(Mutex::new(
            order.into_iter().filter_map(|i| Some((i, senders.get_mut(i)?.take()?))).collect::<Vec<_>>().into_iter(),
        ));
        let state = Arc::new((Mutex::new(State { consumed: 0, stop: false }), Condvar::new()));
        let mut handles = Vec::new();
        for _ in 0..threads {
            let (queue, state, work) = (Arc::clone(&queue), Arc::clone(&state), Arc::clone(&work));
            let spawned = std::thread::Builder::new().name("ahead".into()).spawn(move || {
                loop {
                    let Some((i, sender)) = queue.lock().unwrap_or_else(PoisonError::into_inner).next() else {
                        return;
                    };
                    let (lock_state, wake) = &*state;
                    let mut s = lock(lock_state);
                    while !s.stop && ahead.is_some_and(|ahead| i >= s.consumed + ahead) {
                        s = wake.wait(s).unwrap_or_else(PoisonError::into_inner);
                    }
                    if s.stop {
                        return;
                    }
                    drop(s);
                    // The receiver is gone only when the `Ahead` was dropped.
                    let _ = sender.send(work(i));
                }
            });
            handles.extend(spawned);
        }
        let inline = (handles.is_empty() && n > 0).then_some((0, work));
        Ahead { receivers: receivers.into_iter(), state, inline, threads: handles }
    }

    /// The next result in order; `None` after the last.
    ///
    /// # Panics
    /// When the work panicked on its thread.
    pub(crate) fn next(&mut self) -> Option<T> {
        let receiver = self.receivers.next()?;
        if let Some((i, work)) = &mut self.inline {
            *i += 1;
            return Some(work(*i - 1));
        }
        let value = receiver.recv().expect("a thread working ahead panicked");
        let (state, wake) = &*self.state;
        lock(state).consumed += 1;
        wake.notify_all();
        Some(value)
    }
}

/// The cores to work on: as many as there are, at most four.
pub(crate) fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |c| c.get()).clamp(1, 4)
}

impl<T> Drop for Ahead<T> {
    fn drop(&mut self) {
        let (state, wake) = &*self.state;
        lock(state).stop = true;
        wake.notify_all();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn results_come_in_order_and_never_too_far_ahead() {
        let started = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&started);
        let mut ahead = Ahead::start(50, 4, move |i| {
            seen.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_micros(((i * 37) % 11) as u64 * 100));
            i * i
        });
        for i in 0..50 {
            assert_eq!(ahead.next(), Some(i * i));
            // At most four results beyond the one just handed back are ever started.
            assert!(started.load(Ordering::SeqCst) <= i + 1 + 4, "work started too far ahead");
        }
        assert_eq!(ahead.next(), None);
    }

    #[test]
    fn the_largest_start_first_and_results_still_come_in_order() {
        let sizes = [1u64, 50, 3, 50, 7, 2];
        let starts = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&starts);
        let mut ahead = Ahead::start_largest_first(&sizes, 1, move |i| {
            seen.lock().unwrap().push(i);
            i * 10
        });
        for i in 0..sizes.len() {
            assert_eq!(ahead.next(), Some(i * 10));
        }
        assert_eq!(ahead.next(), None);
        // One thread: the starts show the order exactly.
        assert_eq!(*starts.lock().unwrap(), vec![1, 3, 4, 2, 5, 0]);
    }

    #[test]
    fn dropping_it_stops_the_work_not_yet_started() {
        let started = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&started);
        let mut ahead = Ahead::start(1000, 4, move |i| {
            seen.fetch_add(1, Ordering::SeqCst);
            i
        });
        assert_eq!(ahead.next(), Some(0));
        drop(ahead);
        // Dropped: the threads have ended, having started at most their look-ahead.
        let after_drop = started.load(Ordering::SeqCst);
        assert!(after_drop <= 6, "{after_drop} started");
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert_eq!(started.load(Ordering::SeqCst), after_drop, "work went on after the drop");
    }
}
