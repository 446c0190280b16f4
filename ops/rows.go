package ops

import "unsafe"

// copyRows copies rows segments of n elements: segment i goes from
// src[i·srcStride:] to dst[i·dstStride:]. addRows adds them instead. They
// are the inner loops of im2col and col2im, where the segments are short
// (an output row of a feature map) and a call to copy per segment costs more
// than the copy.
func copyRows[T Float](dst, src []T, n, rows, dstStride, srcStride int) {
	if rows == 0 || n == 0 {
		return
	}
	_ = dst[(rows-1)*dstStride+n-1]
	_ = src[(rows-1)*srcStride+n-1]
	if d32, ok := any(dst).([]float32); ok && haveRowsAsm {
		copyRowsAsm(unsafe.Pointer(&d32[0]), unsafe.Pointer(&any(src).([]float32)[0]), n/16, rowMask(n), rows, dstStride*4, srcStride*4)
		return
	}
	for i := 0; i < rows; i++ {
		copy(dst[i*dstStride:i*dstStride+n], src[i*srcStride:i*srcStride+n])
	}
}

func addRows[T Float](dst, src []T, n, rows, dstStride, srcStride int) {
	if rows == 0 || n == 0 {
		return
	}
	_ = dst[(rows-1)*dstStride+n-1]
	_ = src[(rows-1)*srcStride+n-1]
	if d32, ok := any(dst).([]float32); ok && haveRowsAsm {
		addRowsAsm(unsafe.Pointer(&d32[0]), unsafe.Pointer(&any(src).([]float32)[0]), n/16, rowMask(n), rows, dstStride*4, srcStride*4)
		return
	}
	for i := 0; i < rows; i++ {
		d, s := dst[i*dstStride:i*dstStride+n], src[i*srcStride:i*srcStride+n]
		for j, v := range s {
			d[j] += v
		}
	}
}

// rowMask is the AVX-512 lane mask of the last, partial 16-float block.
func rowMask(n int) uint16 { return uint16(1)<<(n%16) - 1 }
