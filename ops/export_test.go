package ops

// WinogradFromBatch makes the Winograd kernels take batches of n images
// and more (instead of 32), for tests on small shapes, and returns a
// function that restores the threshold.
func WinogradFromBatch(n int) (restore func()) {
	old := wgMinBatch
	wgMinBatch = n
	return func() { wgMinBatch = old }
}
