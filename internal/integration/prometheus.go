package integration

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// StartPrometheus starts a real Prometheus (found by Binary) on a free
// loopback port with its data in t.TempDir(), scraping the targets
// (host:port, path /metrics) every second as job "ramp", and returns its
// URL once /-/ready answers 200. It is stopped when the test ends.
func StartPrometheus(t testing.TB, targets ...string) (url string) {
	t.Helper()
	bin := Binary(t, "prometheus")
	dir := t.TempDir()
	quoted := make([]string, len(targets))
	for i, target := range targets {
		quoted[i] = strconv.Quote(target)
	}
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: ramp
    static_configs:
      - targets: [%s]
`, strings.Join(quoted, ", "))
	cfgFile := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatalf("prometheus configuration: %v", err)
	}

	addr := FreeAddr(t)
	p := StartProcess(t, exec.Command(bin,
		"--config.file="+cfgFile,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--log.level=warn",
	))
	url = "http://" + addr
	client := &http.Client{Timeout: time.Second}
	p.WaitReady(t, 20*time.Second, func() bool {
		// Connection refused until it listens, 503 until it is ready.
		resp, err := client.Get(url + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return url
}
