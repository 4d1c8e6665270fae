//! The audio thread's side: downmix the input to mono and push it into a lock-free SPSC ring.
//!
//! Input: the host's channel buffers (any channel count, equal lengths, `f32` at the host
//! rate). Output: mono samples (channel mean) in a [`ringbuf`] heap ring read by the worker.
//! [`AudioTap::push`] never allocates, locks, blocks or makes a system call; what does not
//! fit in the ring is dropped and counted in [`TapCounters::overflowed`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use ringbuf::traits::{Producer, Split};
use ringbuf::{HeapCons, HeapProd, HeapRb};

/// Samples downmixed per inner step (a stack buffer; no heap use on the audio thread).
const DOWNMIX_CHUNK: usize = 256;

/// Counters written by the audio thread, read anywhere.
#[derive(Debug, Default)]
pub struct TapCounters {
    /// Mono samples dropped because the ring was full (since the tap was created).
    pub overflowed: AtomicU64,
    /// Mono samples pushed into the ring (since the tap was created).
    pub pushed: AtomicU64,
}

/// The producer end of the ring, owned by the audio thread.
pub struct AudioTap {
    prod: HeapProd<f32>,
    counters: Arc<TapCounters>,
}

/// A ring of `capacity` mono samples: the audio thread's [`AudioTap`] and the worker's
/// consumer. Allocates; call outside the audio thread (in `activate`).
pub fn audio_ring(capacity: usize, counters: Arc<TapCounters>) -> (AudioTap, HeapCons<f32>) {
    let (prod, cons) = HeapRb::<f32>::new(capacity.max(1)).split();
    (AudioTap { prod, counters }, cons)
}

impl AudioTap {
    /// Pushes the mean of `channels` (all of equal length) into the ring; returns the
    /// number of samples that did not fit (also added to [`TapCounters::overflowed`]).
    /// Realtime-safe.
    pub fn push<C: AsRef<[f32]>>(&mut self, channels: &[C]) -> usize {
        let Some(first) = channels.first() else {
            return 0;
        };
        let n = first.as_ref().len();
        let gain = 1.0 / channels.len() as f32;
        let mut mono = [0.0f32; DOWNMIX_CHUNK];
        let mut dropped = 0;
        let mut pos = 0;
        while pos < n {
            let len = (n - pos).min(DOWNMIX_CHUNK);
            let out = &mut mono[..len];
            out.copy_from_slice(&first.as_ref()[pos..pos + len]);
            for ch in &channels[1..] {
                for (o, &x) in out.iter_mut().zip(&ch.as_ref()[pos..pos + len]) {
                    *o += x;
                }
            }
            if channels.len() > 1 {
                for o in out.iter_mut() {
                    *o *= gain;
                }
            }
            let pushed = self.prod.push_slice(out);
            dropped += len - pushed;
            pos += len;
        }
        self.counters
            .pushed
            .fetch_add((n - dropped) as u64, Ordering::Relaxed);
        if dropped > 0 {
            self.counters
                .overflowed
                .fetch_add(dropped as u64, Ordering::Relaxed);
        }
        dropped
    }

    /// The counters this tap writes.
    pub fn counters(&self) -> &Arc<TapCounters> {
        &self.counters
    }
}

/// Flush-to-zero and denormals-are-zero on the current thread while alive (x86_64 MXCSR
/// bits 15 and 6; FPCR.FZ on aarch64; nothing elsewhere); the previous mode is restored on
/// drop. Two register reads and writes: cheap enough for every audio block.
pub struct DenormalGuard {
    #[allow(dead_code)]
    previous: u64,
    /// The mode belongs to this thread: not Send.
    _not_send: std::marker::PhantomData<*const ()>,
}

#[cfg(target_arch = "x86_64")]
const X86_FTZ_DAZ: u32 = (1 << 15) | (1 << 6);
#[cfg(target_arch = "aarch64")]
const ARM_FZ: u64 = 1 << 24;

impl DenormalGuard {
    /// Enables flush-to-zero (and denormals-are-zero where the CPU has it) until dropped.
    pub fn new() -> Self {
        let previous = read_fp_mode();
        write_fp_mode(with_ftz(previous));
        Self {
            previous,
            _not_send: std::marker::PhantomData,
        }
    }
}

impl Default for DenormalGuard {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for DenormalGuard {
    fn drop(&mut self) {
        write_fp_mode(self.previous);
    }
}

/// Enables flush-to-zero / denormals-are-zero on the current thread for good (for threads
/// this crate owns, such as the analysis worker).
pub fn flush_denormals_on_this_thread() {
    write_fp_mode(with_ftz(read_fp_mode()));
}

#[cfg(target_arch = "x86_64")]
fn read_fp_mode() -> u64 {
    let mut mxcsr: u32 = 0;
    // SAFETY: stores the 32-bit MXCSR register to a valid local.
    unsafe { std::arch::asm!("stmxcsr [{}]", in(reg) &mut mxcsr, options(nostack)) };
    mxcsr as u64
}

#[cfg(target_arch = "x86_64")]
fn write_fp_mode(mode: u64) {
    let mxcsr = mode as u32;
    // SAFETY: loads a value derived from the current MXCSR (only FTZ/DAZ bits changed).
    unsafe { std::arch::asm!("ldmxcsr [{}]", in(reg) &mxcsr, options(nostack, readonly)) };
}

#[cfg(target_arch = "x86_64")]
fn with_ftz(mode: u64) -> u64 {
    mode | X86_FTZ_DAZ as u64
}

#[cfg(target_arch = "aarch64")]
fn read_fp_mode() -> u64 {
    let fpcr: u64;
    // SAFETY: reads the floating-point control register.
    unsafe { std::arch::asm!("mrs {}, fpcr", out(reg) fpcr, options(nomem, nostack)) };
    fpcr
}

#[cfg(target_arch = "aarch64")]
fn write_fp_mode(mode: u64) {
    // SAFETY: writes back the control register with only the FZ bit changed.
    unsafe { std::arch::asm!("msr fpcr, {}", in(reg) mode, options(nomem, nostack)) };
}

#[cfg(target_arch = "aarch64")]
fn with_ftz(mode: u64) -> u64 {
    mode | ARM_FZ
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn read_fp_mode() -> u64 {
    0
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn write_fp_mode(_mode: u64) {}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn with_ftz(mode: u64) -> u64 {
    mode
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringbuf::traits::{Consumer, Observer};

    #[test]
    fn downmix_is_channel_mean_and_overflow_is_counted() {
        let counters = Arc::new(TapCounters::default());
        let (mut tap, mut cons) = audio_ring(600, counters.clone());
        let l: Vec<f32> = (0..500).map(|i| i as f32).collect();
        let r: Vec<f32> = (0..500).map(|i| -(i as f32) + 2.0).collect();
        assert_eq!(tap.push(&[&l[..], &r[..]]), 0);
        let mut out = vec![0.0; 500];
        assert_eq!(cons.pop_slice(&mut out), 500);
        assert!(out.iter().all(|&v| v == 1.0), "mean of l and r is 1");
        // 600 free: 700 offered, 100 dropped.
        let m = vec![0.5f32; 700];
        assert_eq!(tap.push(&[&m[..]]), 100);
        assert_eq!(cons.occupied_len(), 600);
        assert_eq!(counters.overflowed.load(Ordering::Relaxed), 100);
        assert_eq!(counters.pushed.load(Ordering::Relaxed), 1100);
    }

    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    #[test]
    fn denormal_guard_flushes_and_restores() {
        let tiny = std::hint::black_box(f32::MIN_POSITIVE);
        let half = std::hint::black_box(0.5f32);
        let before = read_fp_mode();
        assert!(tiny * half > 0.0, "denormals survive by default");
        {
            let _g = DenormalGuard::new();
            assert_eq!(std::hint::black_box(tiny) * half, 0.0, "flushed to zero");
        }
        // Compare the flush bits only (x86 MXCSR also holds sticky exception flags).
        let mask = with_ftz(0);
        assert_eq!(read_fp_mode() & mask, before & mask);
        assert!(std::hint::black_box(tiny) * half > 0.0, "mode restored");
    }
}
