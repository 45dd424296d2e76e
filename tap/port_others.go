//go:build !linux

package tap

func checkPort(string) error { return errUnimplemented }
