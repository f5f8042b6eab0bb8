//! Property tests: shape/stride/view arithmetic against a naive model that
//! lists, for each logical element in row-major order, its storage offset.

use proptest::prelude::*;
use smallmind_tensor::{DType, Layout, Shape, Tensor};

/// The naive model: dims plus the storage offset of every element, row-major.
#[derive(Debug, Clone)]
struct Model {
    dims: Vec<usize>,
    offsets: Vec<usize>,
}

/// Every multi-index of `dims`, row-major.
fn indices(dims: &[usize]) -> Vec<Vec<usize>> {
    let mut out = vec![vec![]];
    for &d in dims {
        out = out
            .into_iter()
            .flat_map(|prefix| {
                (0..d).map(move |i| {
                    let mut v = prefix.clone();
                    v.push(i);
                    v
                })
            })
            .collect();
    }
    out
}

/// Row-major linear position of `index` in `dims`.
fn linear(dims: &[usize], index: &[usize]) -> usize {
    index.iter().zip(dims).fold(0, |acc, (&i, &d)| acc * d + i)
}

impl Model {
    fn contiguous(dims: &[usize]) -> Model {
        Model {
            dims: dims.to_vec(),
            offsets: (0..dims.iter().product()).collect(),
        }
    }

    /// Builds a model with `new_dims` whose element at `index` is the old
    /// element at `source(index)`.
    fn remap(&self, new_dims: Vec<usize>, source: impl Fn(&[usize]) -> Vec<usize>) -> Model {
        let offsets = indices(&new_dims)
            .iter()
            .map(|idx| self.offsets[linear(&self.dims, &source(idx))])
            .collect();
        Model {
            dims: new_dims,
            offsets,
        }
    }

    fn narrow(&self, dim: usize, start: usize, len: usize) -> Option<Model> {
        (dim < self.dims.len() && start + len <= self.dims[dim]).then(|| {
            let mut dims = self.dims.clone();
            dims[dim] = len;
            self.remap(dims, |idx| {
                let mut src = idx.to_vec();
                src[dim] += start;
                src
            })
        })
    }

    fn select(&self, dim: usize, index: usize) -> Option<Model> {
        (dim < self.dims.len() && index < self.dims[dim]).then(|| {
            let mut dims = self.dims.clone();
            dims.remove(dim);
            self.remap(dims, |idx| {
                let mut src = idx.to_vec();
                src.insert(dim, index);
                src
            })
        })
    }

    fn permute(&self, perm: &[usize]) -> Model {
        let dims = perm.iter().map(|&p| self.dims[p]).collect();
        self.remap(dims, |idx| {
            let mut src = vec![0; idx.len()];
            for (k, &p) in perm.iter().enumerate() {
                src[p] = idx[k];
            }
            src
        })
    }

    fn transpose(&self, d0: usize, d1: usize) -> Option<Model> {
        let rank = self.dims.len();
        (d0 < rank && d1 < rank).then(|| {
            let mut perm: Vec<usize> = (0..rank).collect();
            perm.swap(d0, d1);
            self.permute(&perm)
        })
    }

    /// Consecutive storage offsets: what "contiguous" means.
    fn is_contiguous(&self) -> bool {
        self.offsets.windows(2).all(|w| w[1] == w[0] + 1)
    }

    fn reshape(&self, dims: Vec<usize>) -> Option<Model> {
        self.is_contiguous().then(|| Model {
            dims,
            offsets: self.offsets.clone(),
        })
    }
}

/// One raw view operation; its arguments are reduced modulo the current
/// sizes, deliberately going one past the valid range to exercise errors.
#[derive(Debug, Clone)]
struct RawOp(u8, usize, usize, usize);

fn raw_op() -> impl Strategy<Value = RawOp> {
    (0u8..5, 0usize..64, 0usize..64, 0usize..64).prop_map(|(k, a, b, c)| RawOp(k, a, b, c))
}

/// A decoded view operation.
#[derive(Debug, Clone)]
enum Op {
    Narrow(usize, usize, usize),
    Select(usize, usize),
    Transpose(usize, usize),
    Permute(Vec<usize>),
    Reshape(Vec<usize>),
}

impl RawOp {
    fn decode(&self, dims: &[usize]) -> Op {
        let rank = dims.len();
        let RawOp(kind, a, b, c) = *self;
        let dim = a % (rank + 1);
        let size = dims.get(dim).copied().unwrap_or(1);
        match kind {
            0 => Op::Narrow(dim, b % (size + 2), c % (size + 2)),
            1 => Op::Select(dim, b % (size + 1)),
            2 => Op::Transpose(dim, b % (rank + 1)),
            // A rotation of the dimensions: always a valid permutation.
            3 => Op::Permute((0..rank).map(|k| (k + b) % rank.max(1)).collect()),
            _ => {
                // Split the element count as (d, numel / d) for a divisor d, or flatten.
                let numel: usize = dims.iter().product();
                let divisors: Vec<usize> =
                    (1..=numel).filter(|&d| numel.is_multiple_of(d)).collect();
                Op::Reshape(match divisors.get(b % (divisors.len() + 1)) {
                    Some(&d) => vec![d, numel / d],
                    None => vec![numel],
                })
            }
        }
    }
}

impl Op {
    fn on_layout(&self, l: &Layout) -> Option<Layout> {
        match self {
            Op::Narrow(d, s, n) => l.narrow(*d, *s, *n),
            Op::Select(d, i) => l.select(*d, *i),
            Op::Transpose(d0, d1) => l.transpose(*d0, *d1),
            Op::Permute(p) => l.permute(p),
            Op::Reshape(dims) => l.reshape(dims),
        }
        .ok()
    }

    fn on_model(&self, m: &Model) -> Option<Model> {
        match self {
            Op::Narrow(d, s, n) => m.narrow(*d, *s, *n),
            Op::Select(d, i) => m.select(*d, *i),
            Op::Transpose(d0, d1) => m.transpose(*d0, *d1),
            Op::Permute(p) => Some(m.permute(p)),
            Op::Reshape(dims) => m.reshape(dims.clone()),
        }
    }

    fn on_tensor(&self, t: &Tensor) -> Option<Tensor> {
        match self {
            Op::Narrow(d, s, n) => t.narrow(*d, *s, *n),
            Op::Select(d, i) => t.select(*d, *i),
            Op::Transpose(d0, d1) => t.transpose(*d0, *d1),
            Op::Permute(p) => t.permute(p),
            Op::Reshape(dims) => t.reshape(dims),
        }
        .ok()
    }
}

/// The layout's offsets for every index, three ways, and its other claims,
/// all checked against the model.
fn check(layout: &Layout, model: &Model) {
    assert_eq!(layout.dims(), &model.dims[..]);
    assert_eq!(layout.numel(), model.offsets.len());
    let by_index: Vec<usize> = indices(&model.dims)
        .iter()
        .map(|idx| layout.offset_of(idx).unwrap())
        .collect();
    assert_eq!(by_index, model.offsets);
    let mut by_rows = Vec::new();
    layout.for_each_row(|start| {
        by_rows.extend((0..layout.row_len()).map(|j| start + j * layout.row_stride()));
    });
    assert_eq!(by_rows, model.offsets);
    assert_eq!(layout.is_contiguous(), model.is_contiguous(), "{layout:?}");
    if let Some(&max) = model.offsets.iter().max() {
        assert_eq!(layout.extent(), max + 1);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn views_match_the_naive_model(
        dims in prop::collection::vec(0usize..5, 0..=4),
        ops in prop::collection::vec(raw_op(), 0..6),
    ) {
        let mut layout = Layout::contiguous(Shape::new(&dims).unwrap());
        let mut model = Model::contiguous(&dims);
        check(&layout, &model);
        // Element value = storage offset, so reading a view gathers offsets.
        let data: Vec<f32> = (0..model.offsets.len()).map(|i| i as f32).collect();
        let mut view = Tensor::from_f32(&dims, &data).unwrap();
        for raw in &ops {
            let op = raw.decode(&model.dims);
            let (got, want, got_view) = (op.on_layout(&layout), op.on_model(&model), op.on_tensor(&view));
            // Layout, model and tensor agree on success or failure.
            prop_assert_eq!(got.is_some(), want.is_some(), "{:?} on {:?}", op, model);
            prop_assert_eq!(got_view.is_some(), want.is_some());
            let (Some(l), Some(m), Some(v)) = (got, want, got_view) else { continue };
            check(&l, &m);
            prop_assert_eq!(v.layout(), &l);
            let want_values: Vec<f32> = m.offsets.iter().map(|&o| o as f32).collect();
            prop_assert_eq!(v.to_f32_vec().unwrap(), want_values);
            if v.is_contiguous() {
                prop_assert_eq!(v.as_slice::<f32>().unwrap().len(), v.numel());
            }
            (layout, model, view) = (l, m, v);
        }
    }

    #[test]
    fn shape_construction_checks_every_suffix_product(
        dims in prop::collection::vec(
            prop_oneof![0usize..8, Just(usize::MAX), 1usize << 20..1usize << 40],
            0..=5,
        ),
    ) {
        // Exact suffix products in u128: the shape is valid iff all fit in usize.
        let mut product: u128 = 1;
        let mut fits = true;
        for &d in dims.iter().rev() {
            product = product.saturating_mul(d as u128);
            fits &= product <= usize::MAX as u128;
        }
        match Shape::new(&dims) {
            Ok(shape) => {
                prop_assert!(fits);
                prop_assert_eq!(shape.numel() as u128, product);
                let strides = shape.contiguous_strides();
                for (k, &s) in strides.values().iter().enumerate() {
                    prop_assert_eq!(s, dims[k + 1..].iter().rev().product::<usize>());
                }
                for &dtype in DType::ALL {
                    let block = dtype.block_size() as u128;
                    let bytes = product / block * dtype.block_bytes() as u128;
                    let whole = product.is_multiple_of(block);
                    let expected = (whole && bytes <= isize::MAX as u128).then_some(bytes as usize);
                    prop_assert_eq!(dtype.checked_byte_size(shape.numel()), expected);
                }
            }
            Err(_) => prop_assert!(!fits),
        }
    }
}
