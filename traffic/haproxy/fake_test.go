package haproxy

import (
	"bufio"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// fakeAPI is a runtime API on a temporary Unix socket that answers like
// HAProxy 2.6 does (the answers below were read off a real 2.6.12: a "set"
// that succeeds answers "\n", "get weight" answers "N (initial M)\n\n",
// errors are HAProxy's messages followed by a blank line).
type fakeAPI struct {
	t    testing.TB
	Addr string

	mu      sync.Mutex
	cmds    []string
	weights map[string]int // "backend/server" → current weight
	initial map[string]int
	states  map[string]string
	// snapshots holds the weights after each successful set weight.
	snapshots []map[string]int
	// answer, when set, answers instead of the simulation; ok false falls
	// through to it.
	answer func(cmd string) (resp string, ok bool)
	// hang, when set, makes the server read the command and never answer.
	hang chan struct{}
}

func newFakeAPI(t testing.TB, servers map[string]int) *fakeAPI {
	t.Helper()
	dir, err := os.MkdirTemp("", "hapfake")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	f := &fakeAPI{
		t:       t,
		Addr:    filepath.Join(dir, "admin.sock"),
		weights: maps.Clone(servers),
		initial: maps.Clone(servers),
		states:  map[string]string{},
	}
	ln, err := net.Listen("unix", f.Addr)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		_ = ln.Close()
		f.mu.Lock()
		if f.hang != nil {
			close(f.hang)
			f.hang = nil
		}
		f.mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				f.serve(c)
			}()
		}
	}()
	return f
}

func (f *fakeAPI) serve(c net.Conn) {
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return
	}
	cmd := strings.TrimSuffix(line, "\n")
	f.mu.Lock()
	f.cmds = append(f.cmds, cmd)
	hang := f.hang
	answer := f.answer
	f.mu.Unlock()
	if hang != nil {
		<-hang
		return
	}
	if answer != nil {
		if resp, ok := answer(cmd); ok {
			_, _ = c.Write([]byte(resp))
			return
		}
	}
	_, _ = c.Write([]byte(f.simulate(cmd)))
}

func (f *fakeAPI) simulate(cmd string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	args := strings.Fields(cmd)
	lookup := func(arg string) (string, string) {
		b, s, ok := strings.Cut(arg, "/")
		if !ok || b == "" || s == "" {
			return "", "Require 'backend/server'.\n\n"
		}
		if _, ok := f.weights[arg]; !ok {
			for k := range f.weights {
				if strings.HasPrefix(k, b+"/") {
					return "", "No such server.\n\n"
				}
			}
			return "", "No such backend.\n\n"
		}
		return arg, ""
	}
	switch {
	case len(args) == 3 && args[0] == "get" && args[1] == "weight":
		k, msg := lookup(args[2])
		if msg != "" {
			return msg
		}
		return fmt.Sprintf("%d (initial %d)\n\n", f.weights[k], f.initial[k])
	case len(args) == 4 && args[0] == "set" && args[1] == "weight":
		k, msg := lookup(args[2])
		if msg != "" {
			return msg
		}
		w, err := strconv.Atoi(args[3])
		if err != nil {
			return "Trailing garbage in weight string\n"
		}
		if w < 0 || w > 256 {
			return "Absolute weight can only be between 0 and 256 inclusive.\n\n"
		}
		f.weights[k] = w
		f.snapshots = append(f.snapshots, maps.Clone(f.weights))
		return "\n"
	case len(args) == 5 && args[0] == "set" && args[1] == "server" && args[3] == "state":
		k, msg := lookup(args[2])
		if msg != "" {
			return msg
		}
		switch args[4] {
		case "ready", "drain", "maint":
			f.states[k] = args[4]
			return "\n"
		}
		return "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n\n"
	}
	return "Unknown command, but maybe one of the following ones is a better match:\n  get weight <bk>/<srv>  : report a server's current weight\n\n"
}

func (f *fakeAPI) commands() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.cmds...)
}

func (f *fakeAPI) weight(key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.weights[key]
}

func (f *fakeAPI) setWeight(key string, w int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.weights[key] = w
}

func (f *fakeAPI) history() []map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]map[string]int(nil), f.snapshots...)
}

func (f *fakeAPI) resetHistory() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.snapshots = nil
	f.cmds = nil
}

func (f *fakeAPI) state(key string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.states[key]
}

func (f *fakeAPI) setAnswer(a func(cmd string) (string, bool)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answer = a
}

func (f *fakeAPI) setHang() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hang = make(chan struct{})
}
