// Command fleetlock runs a deploy command under the deploy lock of a
// service on etcd, so that one release of a service runs at a time across
// every pipeline and host.
//
// Usage:
//
//	fleetlock -etcd http://10.0.0.9:2379 -service shop -version v2.1.0 -- deploytool …
//
// When another holder has the lock, fleetlock runs nothing: it prints who
// holds it (host, pid, version, since) and exits with status 75 (the lock
// is held: try later). Otherwise it runs the command, passing SIGINT and
// SIGTERM on to it, releases the lock when the command ends and exits
// with the command's status. The lock lives on a lease of -ttl: when the
// holder dies (even by SIGKILL) the lock is free again within the TTL.
// When fleetlock loses the lock while the command runs (etcd unreachable
// for longer than the TTL, so another release may start), it stops the
// command with SIGTERM and exits with status 76.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"github.com/ramp-go/ramp/fleet"
	"github.com/ramp-go/ramp/fleet/internal/etcdflags"
	"github.com/ramp-go/ramp/lock"
)

// Exit statuses of fleetlock itself.
const (
	exitUsage = 2
	exitHeld  = 75 // EX_TEMPFAIL: another release holds the lock
	exitLost  = 76 // the lock was lost while the command ran
	exitError = 1
)

func main() { os.Exit(run(os.Args[1:], os.Stderr)) }

func run(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("fleetlock", flag.ContinueOnError)
	fs.SetOutput(stderr)
	etcd := etcdflags.Register(fs, "FLEETLOCK_ETCD_PASSWORD")
	service := fs.String("service", "", "service whose deploy lock to take (required)")
	version := fs.String("version", "", "version being released (shown to whoever finds the lock held)")
	purpose := fs.String("purpose", "", "why the lock is held")
	ttl := fs.Duration("ttl", fleet.DefaultTTL, "lease TTL: how long the lock outlives a dead holder")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return exitUsage
	}
	cmdArgs := fs.Args()
	if len(cmdArgs) == 0 || *service == "" {
		fmt.Fprintln(stderr, "fleetlock: want -service NAME and a command after --")
		return exitUsage
	}
	cli, err := etcd.Client()
	if err != nil {
		fmt.Fprintln(stderr, "fleetlock:", err)
		return exitUsage
	}
	defer cli.Close()
	l, err := fleet.NewLock(cli, *service, fleet.LockOptions{TTL: *ttl})
	if err != nil {
		fmt.Fprintln(stderr, "fleetlock:", err)
		return exitUsage
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	err = l.TryAcquire(ctx, lock.Holder{Version: *version, Purpose: *purpose})
	cancel()
	var held *lock.HeldError
	switch {
	case errors.As(err, &held):
		fmt.Fprintln(stderr, "fleetlock:", err)
		return exitHeld
	case err != nil:
		fmt.Fprintln(stderr, "fleetlock:", err)
		return exitError
	}
	code := supervise(l, cmdArgs, stderr)
	rctx, rcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer rcancel()
	if err := l.Release(rctx); err != nil && code != exitLost {
		fmt.Fprintln(stderr, "fleetlock: release:", err)
	}
	return code
}

// supervise runs the command while the lock is held.
func supervise(l *fleet.Lock, args []string, stderr io.Writer) int {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(stderr, "fleetlock:", err)
		return exitError
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	lost := l.Lost()
	for {
		select {
		case err := <-done:
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				return exit.ExitCode()
			}
			if err != nil {
				fmt.Fprintln(stderr, "fleetlock:", err)
				return exitError
			}
			return 0
		case s := <-sigs:
			_ = cmd.Process.Signal(s)
		case <-lost:
			lost = nil
			fmt.Fprintln(stderr, "fleetlock: the deploy lock was lost (etcd unreachable for longer than the TTL); stopping the command")
			_ = cmd.Process.Signal(syscall.SIGTERM)
			<-done
			return exitLost
		}
	}
}
