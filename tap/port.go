package tap

import "errors"

// ErrManagedPort is wrapped by CheckPort's error about an interface that
// carries a global address or the default route: making it a bridge port
// would cut the machine off the network it is reached over (an SSH session
// over it ends at once).
var ErrManagedPort = errors.New("carries this machine's own traffic")

// CheckPort checks, without changing anything, that the interface name can
// become a port of the tap's bridge: it must exist, must not be a bridge,
// and neither it nor a bridge it is already a port of may carry a global
// (not link-local) address or the default route. Errors are *OpError
// naming the port; the last case wraps ErrManagedPort and names the address
// or route found. Link-local and loopback addresses are allowed: SetupBridge
// removes the IPv6 ones.
func CheckPort(name string) error { return checkPort(name) }
