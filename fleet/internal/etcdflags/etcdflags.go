// Package etcdflags holds the etcd connection flags the fleet commands
// share: endpoints, TLS and auth.
package etcdflags

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Flags are the etcd connection settings.
type Flags struct {
	endpoints                   string
	cert, key, ca               string
	user, password, passwordEnv string
}

// Register adds -etcd, -etcd-cert, -etcd-key, -etcd-ca, -etcd-user and
// -etcd-password to fs; the password may also come from the environment
// variable passwordEnv.
func Register(fs *flag.FlagSet, passwordEnv string) *Flags {
	f := &Flags{passwordEnv: passwordEnv}
	fs.StringVar(&f.endpoints, "etcd", "", "etcd endpoints, comma-separated (required)")
	fs.StringVar(&f.cert, "etcd-cert", "", "client certificate for etcd (TLS)")
	fs.StringVar(&f.key, "etcd-key", "", "client key for etcd (TLS)")
	fs.StringVar(&f.ca, "etcd-ca", "", "CA bundle for etcd (TLS)")
	fs.StringVar(&f.user, "etcd-user", "", "etcd user (auth)")
	fs.StringVar(&f.password, "etcd-password", "", "etcd password (auth; prefer $"+passwordEnv+")")
	return f
}

// Endpoints returns the endpoints given, or an error naming the flag.
func (f *Flags) Endpoints() ([]string, error) {
	var eps []string
	for _, e := range strings.Split(f.endpoints, ",") {
		if e = strings.TrimSpace(e); e != "" {
			eps = append(eps, e)
		}
	}
	if len(eps) == 0 {
		return nil, errors.New("-etcd: no endpoint given")
	}
	return eps, nil
}

// Client connects to etcd.
func (f *Flags) Client() (*clientv3.Client, error) {
	eps, err := f.Endpoints()
	if err != nil {
		return nil, err
	}
	password := f.password
	if password == "" && f.passwordEnv != "" {
		password = os.Getenv(f.passwordEnv)
	}
	cfg := clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second, Logger: zap.NewNop(),
		Username: f.user, Password: password}
	if f.cert != "" || f.ca != "" {
		info := transport.TLSInfo{CertFile: f.cert, KeyFile: f.key, TrustedCAFile: f.ca}
		tc, err := info.ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("etcd TLS: %w", err)
		}
		tc.MinVersion = tls.VersionTLS12
		cfg.TLS = tc
	}
	return clientv3.New(cfg)
}
