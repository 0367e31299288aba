package etcdtest

import (
	"context"
	"net"
	"testing"

	"github.com/ramp-go/ramp/internal/integration"
)

// A port taken between the search for a free one and etcd's bind (another
// test package's server) costs a retry on other ports, not the test.
func TestStartRetriesATakenPort(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	calls := 0
	freeAddr = func(tb testing.TB) string {
		calls++
		if calls == 1 {
			return taken.Addr().String() // the client port is already bound
		}
		return integration.FreeAddr(tb)
	}
	defer func() { freeAddr = integration.FreeAddr }()
	s := Start(t)
	if s.client == taken.Addr().String() {
		t.Fatalf("etcd kept the taken port %s", s.client)
	}
	if calls < 4 {
		t.Fatalf("free ports looked up %d times, want a second pair after the collision", calls)
	}
	if _, err := s.Client(t).Put(context.Background(), "k", "v"); err != nil {
		t.Fatalf("etcd on its second ports: %v", err)
	}
}
