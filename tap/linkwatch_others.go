//go:build !linux

package tap

import "context"

type portWatchSys struct{}

func (*portWatchSys) open() error { return errUnimplemented }

func (*portWatchSys) run(context.Context, []string, func(int, bool)) error { return errUnimplemented }
