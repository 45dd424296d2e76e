//go:build !linux

package tap

func setupBridge(name, portA, portB string, logf func(string, ...any)) (*Bridge, error) {
	return nil, errUnimplemented
}
