//go:build !amd64 || noasm

package ops

func toLanes(dst, src []float32, n, img int)   { toLanesGo(dst, src, n, img) }
func fromLanes(dst, src []float32, n, img int) { fromLanesGo(dst, src, n, img) }

// wgTile is wgTileGo (wgTileAsm is amd64 assembly).
func wgTile(dst []float32, dRow, dCol int, src []float32, sRow, sCol int, l []float32, r1, c1 int, r []float32, r2, c2 int, acc bool, tmp *wgTmp) {
	wgTileGo(dst, dRow, dCol, src, sRow, sCol, l, r1, c1, r, r2, c2, acc, tmp)
}
