//go:build !amd64 || noasm

package ops

// haveGconvAsm is false: the tile kernels are amd64 assembly.
const haveGconvAsm = false

// gconvCorrAsm and gconvDotAsm are never called without the assembly
// kernels (see gconvTileKernels).
func gconvCorrAsm(*gconvCorrArgs, int, int) {}

func gconvDotAsm(*gconvDotArgs, int, int) {}

func gconvDotPAsm(*gconvDotArgs, int, int, int) {}

// gconvDotPHas reports that there are no permuting kernels.
func gconvDotPHas(int, int, int) bool { return false }

func gconvBcastAsm(*gconvBcastArgs, int, int) {}

func gconvTransposeAsm(*gconvTransposeArgs) {}

func im2rowFlatAsm(*convRowArgs) { panic("unreachable") }
