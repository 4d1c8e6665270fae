//! Strided single-precision matrix products on `gemm` (the engine behind candle's CPU
//! matmul), called directly so that im2col matrices can be strided views of their input and
//! results can land in preallocated buffers.
//!
//! Every operand is given as a slice plus `(row stride, column stride)` in elements:
//! `lhs(i, j)` is `lhs[i·lhs_rs + j·lhs_cs]` (rows may overlap), likewise `rhs` and `dst`.
//! `gemm` copies ("packs") an operand into its microkernel layout unless it is already
//! column-contiguous: a unit row stride on `lhs` makes that copy a block copy (a gather
//! otherwise), and on `rhs` lets it be read in place, so callers arrange for unit row strides.

use std::cell::Cell;

thread_local! {
    /// Per-thread override of the thread count of [`sgemm`] (see [`set_thread_gemm_threads`]).
    static GEMM_THREADS: Cell<Option<usize>> = const { Cell::new(None) };
}

/// Sets how many threads the embedding networks' matrix products (musicnn, VGGish) use when
/// called from the current thread: `Some(n)` (0 counts as 1), or `None` for candle's setting
/// (`RAYON_NUM_THREADS`, else the physical cores). Catalog workers that each run one song
/// set `Some(1)`: their many small products lose more to waking the shared rayon pool than
/// they gain, and several songs at once already fill the cores.
pub fn set_thread_gemm_threads(threads: Option<usize>) {
    GEMM_THREADS.with(|t| t.set(threads.map(|n| n.max(1))));
}

/// Threads the embedding networks' matrix products use on the current thread (see
/// [`set_thread_gemm_threads`]).
pub fn gemm_threads() -> usize {
    GEMM_THREADS
        .with(Cell::get)
        .unwrap_or_else(candle_core::utils::get_num_threads)
}

/// `dst [m, n] = lhs [m, k] · rhs [k, n]` on [`gemm_threads`] threads (candle's setting,
/// `RAYON_NUM_THREADS`, unless the calling thread overrides it). With `k == 0`, `dst` is set
/// to zero.
#[allow(clippy::too_many_arguments)]
pub(crate) fn sgemm(
    dims: (usize, usize, usize),
    lhs: &[f32],
    lhs_strides: (usize, usize),
    rhs: &[f32],
    rhs_strides: (usize, usize),
    dst: &mut [f32],
    dst_strides: (usize, usize),
) {
    let threads = gemm_threads();
    let par = if threads > 1 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    sgemm_into(
        dims,
        dst,
        dst_strides,
        false,
        lhs,
        lhs_strides,
        rhs,
        rhs_strides,
        par,
    );
}

/// `dst [m, n] (+)= lhs [m, k] · rhs [k, n]`: adds to `dst` when `accumulate`, overwrites it
/// otherwise (zeros when `k == 0`), on the given `gemm` parallelism.
#[allow(clippy::too_many_arguments)]
pub(crate) fn sgemm_into(
    (m, k, n): (usize, usize, usize),
    dst: &mut [f32],
    (dst_rs, dst_cs): (usize, usize),
    accumulate: bool,
    lhs: &[f32],
    (lhs_rs, lhs_cs): (usize, usize),
    rhs: &[f32],
    (rhs_rs, rhs_cs): (usize, usize),
    par: gemm::Parallelism,
) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                for j in 0..n {
                    dst[i * dst_rs + j * dst_cs] = 0.0;
                }
            }
        }
        return;
    }
    assert!((m - 1) * lhs_rs + (k - 1) * lhs_cs < lhs.len());
    assert!((k - 1) * rhs_rs + (n - 1) * rhs_cs < rhs.len());
    assert!((m - 1) * dst_rs + (n - 1) * dst_cs < dst.len());
    // SAFETY: the asserts keep every element gemm touches inside the three slices; `dst` is
    // a unique borrow, so it aliases neither input.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            dst_cs as isize,
            dst_rs as isize,
            accumulate,
            lhs.as_ptr(),
            lhs_cs as isize,
            lhs_rs as isize,
            rhs.as_ptr(),
            rhs_cs as isize,
            rhs_rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            par,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gemm_thread_override_is_per_thread() {
        let default = candle_core::utils::get_num_threads();
        std::thread::spawn(move || {
            assert_eq!(gemm_threads(), default);
            set_thread_gemm_threads(Some(1));
            assert_eq!(gemm_threads(), 1);
            set_thread_gemm_threads(Some(0));
            assert_eq!(gemm_threads(), 1);
            set_thread_gemm_threads(Some(default + 3));
            assert_eq!(gemm_threads(), default + 3);
            // Another thread keeps candle's setting.
            std::thread::spawn(move || assert_eq!(gemm_threads(), default))
                .join()
                .unwrap();
            set_thread_gemm_threads(None);
            assert_eq!(gemm_threads(), default);
        })
        .join()
        .unwrap();
    }
}
