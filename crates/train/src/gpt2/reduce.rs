//! Row reductions with independent partial sums, so the compiler vectorizes
//! them and they are not bound by the latency of one serial add chain. Each
//! sums a row in a fixed order (lanes, then the lanes in order, then the
//! tail), so results depend only on the data.

/// Partial sums kept side by side.
const LANES: usize = 16;

/// `Σ a[i]·b[i]` over the common length.
#[inline]
pub(super) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let len = a.len().min(b.len());
    let (a, b) = (&a[..len], &b[..len]);
    let mut acc = [0.0f32; LANES];
    let (ac, bc) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = ac
        .remainder()
        .iter()
        .zip(bc.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ac.zip(bc) {
        for i in 0..LANES {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// `Σ x[i]`.
#[inline]
pub(super) fn sum(x: &[f32]) -> f32 {
    let mut acc = [0.0f32; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail: f32 = chunks.remainder().iter().sum();
    for x in chunks {
        for i in 0..LANES {
            acc[i] += x[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// `Σ (x[i] − m)²`.
#[inline]
pub(super) fn centered_sum_sq(x: &[f32], m: f32) -> f32 {
    let mut acc = [0.0f32; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail: f32 = chunks.remainder().iter().map(|v| (v - m) * (v - m)).sum();
    for x in chunks {
        for i in 0..LANES {
            let d = x[i] - m;
            acc[i] += d * d;
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// `(Σ g[i]·w[i], Σ g[i]·w[i]·x[i])`: the two sums of a LayerNorm row's backward.
#[inline]
pub(super) fn dot_pair(g: &[f32], w: &[f32], x: &[f32]) -> (f32, f32) {
    let len = g.len().min(w.len()).min(x.len());
    let (g, w, x) = (&g[..len], &w[..len], &x[..len]);
    let (mut s, mut sx) = ([0.0f32; LANES], [0.0f32; LANES]);
    let (gc, wc, xc) = (
        g.chunks_exact(LANES),
        w.chunks_exact(LANES),
        x.chunks_exact(LANES),
    );
    let (mut ts, mut tsx) = (0.0f32, 0.0f32);
    for ((g, w), x) in gc
        .remainder()
        .iter()
        .zip(wc.remainder())
        .zip(xc.remainder())
    {
        ts += g * w;
        tsx += g * w * x;
    }
    for ((g, w), x) in gc.zip(wc).zip(xc) {
        for i in 0..LANES {
            let gw = g[i] * w[i];
            s[i] += gw;
            sx[i] += gw * x[i];
        }
    }
    (s.iter().sum::<f32>() + ts, sx.iter().sum::<f32>() + tsx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reductions_match_f64() {
        for len in [0, 1, 15, 16, 17, 63, 130] {
            let a: Vec<f32> = (0..len)
                .map(|i| ((i * 7 % 13) as f32 - 6.0) * 0.25)
                .collect();
            let b: Vec<f32> = (0..len)
                .map(|i| ((i * 5 % 11) as f32 - 5.0) * 0.5)
                .collect();
            let c: Vec<f32> = (0..len).map(|i| (i % 3) as f32 - 1.0).collect();
            let f = |v: f32| f64::from(v);
            let dot64: f64 = a.iter().zip(&b).map(|(&x, &y)| f(x) * f(y)).sum();
            let sum64: f64 = a.iter().map(|&x| f(x)).sum();
            let sq64: f64 = a.iter().map(|&x| (f(x) - 0.5).powi(2)).sum();
            let sx64: f64 = a
                .iter()
                .zip(&b)
                .zip(&c)
                .map(|((&x, &y), &z)| f(x) * f(y) * f(z))
                .sum();
            assert!((f64::from(dot(&a, &b)) - dot64).abs() < 1e-4, "{len}");
            assert!((f64::from(sum(&a)) - sum64).abs() < 1e-4, "{len}");
            assert!(
                (f64::from(centered_sum_sq(&a, 0.5)) - sq64).abs() < 1e-4,
                "{len}"
            );
            let (s, sx) = dot_pair(&a, &b, &c);
            assert!((f64::from(s) - dot64).abs() < 1e-4 && (f64::from(sx) - sx64).abs() < 1e-4);
        }
    }
}
