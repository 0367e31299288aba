package haproxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"
)

// Defaults used when the corresponding Client field is zero.
const (
	DefaultTimeout     = 5 * time.Second
	DefaultMaxResponse = 4 << 20
)

// MaxWeight is the largest weight HAProxy accepts for a server
// (configuration manual, "weight": "the maximal value is 256").
const MaxWeight = 256

// Client speaks HAProxy's runtime API (the "stats socket" of the global
// section, which must be declared with "level admin" for the commands that
// change state).
//
// Every command uses a connection of its own in the socket's
// non-interactive mode: the client connects, writes one line, and HAProxy
// answers and closes the connection (management guide, section 9.3). The
// end of the answer is the end of the stream, so no answer can be taken
// for another's, a connection is never left in an unknown state after a
// timeout, and there is nothing to keep alive. Over a Unix socket a
// command costs a few tens of microseconds.
//
// A Client is safe for concurrent use. The zero Client has no address and
// fails every command.
type Client struct {
	// Addr is where the runtime API listens. A value of the form
	// host:port with a numeric port and no slash is a TCP address (for
	// "stats socket ipv4@127.0.0.1:9999"); HAProxy's own prefixes are
	// understood too ("ipv4@", "ipv6@", "unix@"). Anything else is the
	// path of a Unix socket ("/run/haproxy/admin.sock").
	Addr string
	// Timeout bounds each command, from dialling to reading the end of
	// the answer. 0 means DefaultTimeout (5 s). A deadline on the caller's
	// context applies as well: the earlier one wins.
	Timeout time.Duration
	// MaxResponse bounds the size of an answer in bytes; a longer one is
	// an error. 0 means DefaultMaxResponse (4 MiB).
	MaxResponse int
	// Logger, when set, receives each command and its outcome at debug
	// level. nil: the client is silent.
	Logger *slog.Logger
}

// network returns the network and address to dial.
func (c *Client) network() (string, string) {
	a := c.Addr
	if strings.HasPrefix(a, "unix@") {
		return "unix", strings.TrimPrefix(a, "unix@")
	}
	if strings.HasPrefix(a, "ipv4@") || strings.HasPrefix(a, "ipv6@") {
		return "tcp", a[len("ipv4@"):]
	}
	if !strings.Contains(a, "/") {
		if _, port, err := net.SplitHostPort(a); err == nil {
			if _, err := strconv.ParseUint(port, 10, 16); err == nil {
				return "tcp", a
			}
		}
	}
	return "unix", a
}

// ErrInvalidCommand is wrapped by the error Command returns for a command
// it refuses to send.
var ErrInvalidCommand = errors.New("invalid runtime API command")

// Command sends one command line and returns HAProxy's answer, unchecked.
// cmd must be a single line without control characters; Command adds the
// line feed. HAProxy reads ';' as a command separator and '\' as an escape
// in this mode: a caller who passes untrusted text inside cmd must
// validate it first (the typed methods do, with ValidName).
//
// Failures to connect, write or read, and timeouts, are errors that name
// the address; the context's error is wrapped when it ended the command.
func (c *Client) Command(ctx context.Context, cmd string) (string, error) {
	if c.Addr == "" {
		return "", fmt.Errorf("haproxy: runtime API address is empty")
	}
	if cmd == "" {
		return "", fmt.Errorf("%w: empty", ErrInvalidCommand)
	}
	for i, r := range cmd {
		if r < 0x20 || r == 0x7f {
			return "", fmt.Errorf("%w: %q has control character %q at byte %d", ErrInvalidCommand, cmd, r, i)
		}
	}
	start := time.Now()
	resp, err := c.roundTrip(ctx, cmd)
	if c.Logger != nil {
		c.Logger.LogAttrs(ctx, slog.LevelDebug, "haproxy runtime API",
			slog.String("addr", c.Addr), slog.String("command", cmd),
			slog.String("response", strings.TrimSpace(resp)),
			slog.Duration("elapsed", time.Since(start)), slog.Any("error", err))
	}
	return resp, err
}

func (c *Client) roundTrip(ctx context.Context, cmd string) (string, error) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	limit := c.MaxResponse
	if limit <= 0 {
		limit = DefaultMaxResponse
	}
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	network, addr := c.network()
	fail := func(op string, err error) (string, error) {
		ctxErr := ctx.Err()
		if d, ok := ctx.Deadline(); ok && ctxErr == nil && !time.Now().Before(d) {
			// The connection's deadline was the context's and fired first.
			ctxErr = context.DeadlineExceeded
		}
		if ctxErr != nil && !errors.Is(err, ctxErr) {
			err = fmt.Errorf("%w (%w)", ctxErr, err)
		}
		return "", fmt.Errorf("haproxy runtime API at %s: %s %q: %w", c.Addr, op, cmd, err)
	}

	d := net.Dialer{Deadline: deadline}
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return fail("connect for", err)
	}
	defer conn.Close()
	// Cancelling ctx unblocks a pending write or read at once.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()
	if err := conn.SetDeadline(deadline); err != nil {
		return fail("set deadline for", err)
	}
	if _, err := io.WriteString(conn, cmd+"\n"); err != nil {
		return fail("send", err)
	}
	var buf bytes.Buffer
	n, err := buf.ReadFrom(io.LimitReader(conn, int64(limit)+1))
	if err != nil {
		return fail("read answer to", err)
	}
	if n > int64(limit) {
		return fail("read answer to", fmt.Errorf("answer exceeds %d bytes", limit))
	}
	return buf.String(), nil
}

// CommandError is HAProxy's refusal of a command: its answer was not the
// one a success gives. Message is HAProxy's text, such as "No such
// backend." or "Require 'backend/server'.".
type CommandError struct {
	Addr    string
	Command string
	Message string
}

func (e *CommandError) Error() string {
	return fmt.Sprintf("haproxy runtime API at %s: %q: %s", e.Addr, e.Command, e.Message)
}

// message condenses an answer to its first lines for an error.
func message(resp string) string {
	s := strings.TrimSpace(resp)
	if s == "" {
		return "no answer (the connection was closed without one)"
	}
	const maxLines, maxLen = 3, 300
	lines := strings.Split(s, "\n")
	if len(lines) > maxLines {
		lines = append(lines[:maxLines], "…")
	}
	s = strings.Join(lines, " | ")
	if len(s) > maxLen {
		s = s[:maxLen] + "…"
	}
	return s
}

// expectEmpty sends a command whose success is an empty answer (the
// "set" commands answer with a lone line feed), and turns anything else
// into a *CommandError quoting HAProxy.
func (c *Client) expectEmpty(ctx context.Context, cmd string) error {
	resp, err := c.Command(ctx, cmd)
	if err != nil {
		return err
	}
	// HAProxy answers a successful "set" with "\n"; no answer at all is
	// a connection closed before the command ran (a reload, say).
	if resp == "" || strings.Trim(resp, "\n") != "" {
		return &CommandError{Addr: c.Addr, Command: cmd, Message: message(resp)}
	}
	return nil
}

// SetWeight sets server's weight in backend: "set weight <backend>/<server>
// <weight>". weight must be in [0, MaxWeight]. HAProxy refuses a weight
// other than 0 or the initial one for a backend with a static algorithm
// (static-rr, or a hash with "hash-type map-based"); its message is in the
// error.
func (c *Client) SetWeight(ctx context.Context, backend, server string, weight int) error {
	if err := validPair(backend, server); err != nil {
		return err
	}
	if weight < 0 || weight > MaxWeight {
		return fmt.Errorf("haproxy: weight: %d is outside [0, %d]", weight, MaxWeight)
	}
	return c.expectEmpty(ctx, fmt.Sprintf("set weight %s/%s %d", backend, server, weight))
}

// ServerWeight is what "get weight" reports: the weight in force and the
// one in the configuration file.
type ServerWeight struct {
	Current int
	Initial int
}

// Weight reads server's weight in backend: "get weight <backend>/<server>".
func (c *Client) Weight(ctx context.Context, backend, server string) (ServerWeight, error) {
	if err := validPair(backend, server); err != nil {
		return ServerWeight{}, err
	}
	cmd := fmt.Sprintf("get weight %s/%s", backend, server)
	resp, err := c.Command(ctx, cmd)
	if err != nil {
		return ServerWeight{}, err
	}
	w, ok := ParseWeight(resp)
	if !ok {
		return ServerWeight{}, &CommandError{Addr: c.Addr, Command: cmd, Message: message(resp)}
	}
	return w, nil
}

// ParseWeight parses the answer to "get weight": "<current> (initial
// <initial>)" followed by the blank line that ends every answer, as
// HAProxy 1.5 to 3.x print it. Both numbers must be in [0, MaxWeight].
// ok is false for anything else, such as an error message.
func ParseWeight(resp string) (w ServerWeight, ok bool) {
	s := strings.TrimRight(resp, "\n")
	if len(resp)-len(s) > 2 {
		return ServerWeight{}, false // more than one answer
	}
	cur, rest, found := strings.Cut(s, " (initial ")
	if !found {
		return ServerWeight{}, false
	}
	ini, found := strings.CutSuffix(rest, ")")
	if !found {
		return ServerWeight{}, false
	}
	if w.Current, ok = parseSmall(cur); !ok {
		return ServerWeight{}, false
	}
	if w.Initial, ok = parseSmall(ini); !ok {
		return ServerWeight{}, false
	}
	return w, true
}

// parseSmall parses a decimal weight in [0, MaxWeight]: digits only, no
// sign, no leading zeros.
func parseSmall(s string) (int, bool) {
	if s == "" || len(s) > 3 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, n <= MaxWeight
}

// State is a server's administrative state.
type State string

// Administrative states ("set server <b>/<s> state ...").
const (
	// Ready: the server takes part in load balancing.
	Ready State = "ready"
	// Drain: no new traffic from load balancing; health checks and
	// persistent connections go on.
	Drain State = "drain"
	// Maint: no traffic and no health checks.
	Maint State = "maint"
)

// SetState sets server's administrative state in backend: "set server
// <backend>/<server> state <state>".
func (c *Client) SetState(ctx context.Context, backend, server string, s State) error {
	if err := validPair(backend, server); err != nil {
		return err
	}
	switch s {
	case Ready, Drain, Maint:
	default:
		return fmt.Errorf("haproxy: state: %q is not one of ready, drain, maint", string(s))
	}
	return c.expectEmpty(ctx, fmt.Sprintf("set server %s/%s state %s", backend, server, s))
}

func validPair(backend, server string) error {
	return errors.Join(ValidName("backend", backend), ValidName("server", server))
}
