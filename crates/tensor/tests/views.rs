//! Views (narrow, select/row, transpose, permute, reshape) read the right
//! elements, share storage, and fail with precise errors on bad arguments.

use smallmind_tensor::{DType, MAX_RANK, Shape, Tensor, TensorError};

/// A (2, 3, 4) f32 tensor whose element at [i, j, k] is 100i + 10j + k.
fn cube() -> Tensor {
    let data: Vec<f32> = (0..2)
        .flat_map(|i| (0..3).flat_map(move |j| (0..4).map(move |k| (100 * i + 10 * j + k) as f32)))
        .collect();
    Tensor::from_f32(&[2, 3, 4], &data).unwrap()
}

fn shape(dims: &[usize]) -> Shape {
    Shape::new(dims).unwrap()
}

#[test]
fn contiguous_tensor_metadata() {
    let t = cube();
    assert_eq!(t.dims(), &[2, 3, 4]);
    assert_eq!(t.strides(), &[12, 4, 1]);
    assert_eq!(t.offset(), 0);
    assert_eq!(t.rank(), 3);
    assert_eq!(t.numel(), 24);
    assert_eq!(t.dtype(), DType::F32);
    assert!(t.is_contiguous());
    assert_eq!(t.get_f32(&[1, 2, 3]).unwrap(), 123.0);
}

#[test]
fn narrow_reads_the_right_elements() {
    let t = cube();
    let n = t.narrow(2, 1, 2).unwrap();
    assert_eq!(n.dims(), &[2, 3, 2]);
    assert_eq!(n.offset(), 1);
    assert!(!n.is_contiguous());
    assert_eq!(
        n.to_f32_vec().unwrap(),
        [
            1., 2., 11., 12., 21., 22., 101., 102., 111., 112., 121., 122.
        ]
    );
    // Narrowing the outer dimension keeps contiguity.
    let outer = t.narrow(0, 1, 1).unwrap();
    assert!(outer.is_contiguous());
    assert_eq!(outer.offset(), 12);
    assert_eq!(outer.as_slice::<f32>().unwrap()[0], 100.0);
    // Empty narrow.
    let empty = t.narrow(1, 3, 0).unwrap();
    assert_eq!(empty.numel(), 0);
    assert!(empty.to_f32_vec().unwrap().is_empty());
    // Narrow of a narrow.
    let nn = t.narrow(1, 1, 2).unwrap().narrow(2, 3, 1).unwrap();
    assert_eq!(nn.to_f32_vec().unwrap(), [13., 23., 113., 123.]);
}

#[test]
fn row_and_select_remove_a_dimension() {
    let t = cube();
    let r = t.row(1).unwrap();
    assert_eq!(r.dims(), &[3, 4]);
    assert!(r.is_contiguous());
    assert_eq!(r.get_f32(&[2, 1]).unwrap(), 121.0);
    let s = t.select(2, 3).unwrap();
    assert_eq!(s.dims(), &[2, 3]);
    assert_eq!(s.strides(), &[12, 4]);
    assert_eq!(s.to_f32_vec().unwrap(), [3., 13., 23., 103., 113., 123.]);
    // Down to a scalar.
    let scalar = t.row(1).unwrap().row(2).unwrap().row(0).unwrap();
    assert_eq!(scalar.rank(), 0);
    assert_eq!(scalar.numel(), 1);
    assert_eq!(scalar.to_f32_vec().unwrap(), [120.0]);
    assert_eq!(scalar.get_f32(&[]).unwrap(), 120.0);
}

#[test]
fn transpose_swaps_strides_and_reads_transposed() {
    let m = Tensor::from_f32(&[2, 3], &[0., 1., 2., 3., 4., 5.]).unwrap();
    let t = m.transpose(0, 1).unwrap();
    assert_eq!(t.dims(), &[3, 2]);
    assert_eq!(t.strides(), &[1, 3]);
    assert!(!t.is_contiguous());
    assert_eq!(t.to_f32_vec().unwrap(), [0., 3., 1., 4., 2., 5.]);
    assert_eq!(t.get_f32(&[2, 1]).unwrap(), 5.0);
    // Transposing back is the original layout.
    let back = t.transpose(1, 0).unwrap();
    assert!(back.is_contiguous());
    assert_eq!(back.layout(), m.layout());
    // Rows of a transpose are columns.
    assert_eq!(t.row(1).unwrap().to_f32_vec().unwrap(), [1., 4.]);
}

#[test]
fn permute_reorders_dimensions() {
    let t = cube();
    let p = t.permute(&[2, 0, 1]).unwrap();
    assert_eq!(p.dims(), &[4, 2, 3]);
    assert_eq!(p.strides(), &[1, 12, 4]);
    for k in 0..4 {
        for i in 0..2 {
            for j in 0..3 {
                assert_eq!(
                    p.get_f32(&[k, i, j]).unwrap(),
                    t.get_f32(&[i, j, k]).unwrap()
                );
            }
        }
    }
    assert!(matches!(
        t.permute(&[0, 0, 1]),
        Err(TensorError::RepeatedDim { dim: 0, .. })
    ));
    assert!(matches!(
        t.permute(&[0, 1]),
        Err(TensorError::LengthMismatch { .. })
    ));
    assert!(matches!(
        t.permute(&[0, 1, 3]),
        Err(TensorError::DimOutOfRange { dim: 3, .. })
    ));
}

#[test]
fn reshape_of_contiguous_tensors() {
    let t = cube();
    let r = t.reshape(&[6, 4]).unwrap();
    assert_eq!(r.strides(), &[4, 1]);
    assert_eq!(r.get_f32(&[5, 3]).unwrap(), 123.0);
    // A contiguous view with an offset reshapes too, keeping the offset.
    let second = t.row(1).unwrap().reshape(&[12]).unwrap();
    assert_eq!(second.offset(), 12);
    assert_eq!(second.to_f32_vec().unwrap()[0], 100.0);
    assert_eq!(
        t.reshape(&[24]).unwrap().reshape(&[2, 12]).unwrap().dims(),
        &[2, 12]
    );
}

#[test]
fn reshape_errors_on_non_contiguous_and_wrong_count() {
    let t = cube();
    let tr = t.transpose(1, 2).unwrap();
    assert_eq!(
        tr.reshape(&[24]).unwrap_err(),
        TensorError::NotContiguous {
            op: "reshape",
            shape: shape(&[2, 4, 3]),
            strides: smallmind_tensor::Strides::new(&[12, 1, 4]).unwrap(),
        }
    );
    assert!(matches!(
        t.narrow(2, 0, 2).unwrap().reshape(&[12]),
        Err(TensorError::NotContiguous { .. })
    ));
    assert_eq!(
        t.reshape(&[5, 5]).unwrap_err(),
        TensorError::ShapeMismatch {
            op: "reshape",
            expected: shape(&[2, 3, 4]),
            actual: shape(&[5, 5]),
        }
    );
    // The fix: copy to contiguous first.
    let c = tr.to_contiguous().unwrap();
    assert!(c.is_contiguous());
    assert_eq!(
        c.reshape(&[24]).unwrap().to_f32_vec().unwrap(),
        tr.to_f32_vec().unwrap()
    );
}

#[test]
fn views_are_bounds_checked() {
    let t = cube();
    assert_eq!(
        t.narrow(1, 2, 2).unwrap_err(),
        TensorError::OutOfBounds {
            op: "narrow",
            dim: 1,
            start: 2,
            len: 2,
            size: 3,
            shape: shape(&[2, 3, 4]),
        }
    );
    assert!(matches!(
        t.narrow(1, usize::MAX, 2),
        Err(TensorError::OutOfBounds { .. })
    ));
    assert!(matches!(
        t.narrow(3, 0, 1),
        Err(TensorError::DimOutOfRange {
            dim: 3,
            rank: 3,
            ..
        })
    ));
    assert!(matches!(
        t.row(2),
        Err(TensorError::OutOfBounds {
            start: 2,
            size: 2,
            ..
        })
    ));
    assert!(matches!(
        t.select(5, 0),
        Err(TensorError::DimOutOfRange { .. })
    ));
    assert!(matches!(
        t.transpose(0, 3),
        Err(TensorError::DimOutOfRange { .. })
    ));
    assert!(matches!(
        t.get_f32(&[0, 3, 0]),
        Err(TensorError::OutOfBounds { dim: 1, .. })
    ));
    assert!(matches!(
        t.get_f32(&[0, 0]),
        Err(TensorError::LengthMismatch { .. })
    ));
    let scalar = Tensor::from_f32(&[], &[1.0]).unwrap();
    assert!(matches!(
        scalar.row(0),
        Err(TensorError::DimOutOfRange { rank: 0, .. })
    ));
    let msg = t.narrow(1, 2, 2).unwrap_err().to_string();
    assert_eq!(
        msg,
        "narrow: range 2..2+2 out of bounds for dim 1 of size 3 in shape [2, 3, 4]"
    );
}

#[test]
fn huge_shapes_overflow_with_an_error() {
    let huge = usize::MAX / 2 + 1;
    // The error carries the offending shape even though `Shape::new` refuses it.
    match Tensor::zeros(&[huge, 2], DType::F32).unwrap_err() {
        TensorError::SizeOverflow { op, shape, dtype } => {
            assert_eq!(op, "zeros");
            assert_eq!(shape.dims(), &[huge, 2]);
            assert_eq!(dtype, None);
        }
        other => panic!("unexpected {other:?}"),
    }
    // The element count fits, the byte size does not.
    let err = Tensor::zeros(&[1 << 62], DType::F32).unwrap_err();
    assert_eq!(
        err,
        TensorError::SizeOverflow {
            op: "zeros",
            shape: shape(&[1 << 62]),
            dtype: Some(DType::F32),
        }
    );
    assert!(err.to_string().contains("f32 byte size"), "{err}");
    assert!(matches!(
        Tensor::zeros(&[1 << 40, 1 << 40, 1 << 40], DType::BF16),
        Err(TensorError::SizeOverflow { dtype: None, .. })
    ));
    assert!(matches!(
        Tensor::zeros(&[1; MAX_RANK + 1], DType::F32),
        Err(TensorError::RankTooLarge { rank, max, .. }) if rank == MAX_RANK + 1 && max == MAX_RANK
    ));
    // Fits in isize but not in memory: an error, not an abort.
    assert!(matches!(
        Tensor::zeros(&[1 << 60], DType::F16),
        Err(TensorError::AllocationFailed { .. })
    ));
}

#[test]
fn typed_access_needs_contiguity() {
    let t = cube();
    assert!(matches!(
        t.transpose(0, 1).unwrap().as_slice::<f32>(),
        Err(TensorError::NotContiguous { op: "as_slice", .. })
    ));
    assert!(matches!(
        t.narrow(2, 0, 1).unwrap().as_bytes(),
        Err(TensorError::NotContiguous { op: "as_bytes", .. })
    ));
    // A contiguous view at an offset gives exactly its elements.
    assert_eq!(
        t.row(1).unwrap().row(1).unwrap().as_slice::<f32>().unwrap(),
        &[110., 111., 112., 113.]
    );
}

#[test]
fn writes_through_a_unique_tensor_are_visible_to_later_views() {
    let mut t = Tensor::zeros(&[3, 2], DType::F32).unwrap();
    for (i, v) in t.as_mut_slice::<f32>().unwrap().iter_mut().enumerate() {
        *v = i as f32;
    }
    let col = t.narrow(1, 1, 1).unwrap();
    assert_eq!(col.to_f32_vec().unwrap(), [1., 3., 5.]);
    // A unique view can be written too, and writes only its own elements.
    drop(col);
    let mut row = t.row(1).unwrap();
    drop(t);
    row.as_mut_slice::<f32>()
        .unwrap()
        .copy_from_slice(&[-1., -2.]);
    assert_eq!(row.to_f32_vec().unwrap(), [-1., -2.]);
    assert_eq!(row.storage().len(), 24);
}

#[test]
fn copy_to_f32_checks_the_destination() {
    let t = cube();
    let mut out = vec![0.0; 23];
    assert_eq!(
        t.copy_to_f32(&mut out).unwrap_err(),
        TensorError::LengthMismatch {
            op: "copy_to_f32",
            expected: 24,
            actual: 23,
        }
    );
    let mut out = vec![0.0; 24];
    t.permute(&[1, 2, 0])
        .unwrap()
        .copy_to_f32(&mut out)
        .unwrap();
    assert_eq!(&out[..4], &[0., 100., 1., 101.]);
}
