package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ramp-go/ramp/admin"
)

// client speaks to an admin API (package admin) at base.
type client struct {
	base  *url.URL
	token string // never printed, never in an error
	http  *http.Client
}

// apiError is an answer other than 2xx.
type apiError struct {
	op     string
	status int
	msg    string // the server's "error", which never echoes the token
}

func (e *apiError) Error() string {
	if e.msg == "" {
		return fmt.Sprintf("%s: %s", e.op, http.StatusText(e.status))
	}
	return fmt.Sprintf("%s: %d %s: %s", e.op, e.status, http.StatusText(e.status), e.msg)
}

// parseAddr reads -addr: a URL, or host:port meaning http://host:port.
func parseAddr(s string) (*url.URL, error) {
	if s == "" {
		return nil, errors.New("empty")
	}
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return nil, fmt.Errorf("%q is not a URL", s)
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("%q: scheme must be http or https", s)
	case u.Host == "":
		return nil, fmt.Errorf("%q: no host", s)
	case u.User != nil:
		return nil, fmt.Errorf("%s: no user info in the address: give the token with -token or $%s", u.Redacted(), tokenEnv)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/"
	return u, nil
}

func (c *client) url(path string, query url.Values) string {
	u := c.base.ResolveReference(&url.URL{Path: path})
	u.RawQuery = query.Encode()
	return u.String()
}

// status reads GET /status.
func (c *client) status(ctx context.Context) (admin.Status, error) {
	var st admin.Status
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url("status", nil), nil)
	if err != nil {
		return st, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return st, fmt.Errorf("status: %w", unwrapURLError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, answerError("status", resp)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&st); err != nil {
		return st, fmt.Errorf("status: reading the answer of %s: %w", c.base.Redacted(), err)
	}
	return st, nil
}

// op posts an operation and returns its result and HTTP status.
func (c *client) op(ctx context.Context, name string, query url.Values) (admin.OpResult, int, error) {
	var res admin.OpResult
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url(name, query), nil)
	if err != nil {
		return res, 0, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return res, 0, fmt.Errorf("%s: %w", name, unwrapURLError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		err := answerError(name, resp)
		if ae := err.(*apiError); resp.StatusCode == http.StatusUnauthorized && c.token == "" {
			ae.msg += " (no token given: use -token-file, $" + tokenEnv + " or -token)"
		}
		return res, resp.StatusCode, err
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&res); err != nil {
		return res, resp.StatusCode, fmt.Errorf("%s: reading the answer: %w", name, err)
	}
	return res, resp.StatusCode, nil
}

// answerError reads the "error" of a refused request.
func answerError(op string, resp *http.Response) error {
	var body struct {
		Error string `json:"error"`
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(b, &body) != nil || body.Error == "" {
		body.Error = strings.TrimSpace(string(b))
		if len(body.Error) > 200 {
			body.Error = body.Error[:200] + "…"
		}
	}
	return &apiError{op: op, status: resp.StatusCode, msg: body.Error}
}

// unwrapURLError keeps the cause of a transport error; the URL it names
// is the admin address, which holds no secret (parseAddr refuses user
// info), but the cause alone reads better.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return fmt.Errorf("%s %s: timed out", ue.Op, ue.URL)
		}
		return fmt.Errorf("%s %s: %w", ue.Op, ue.URL, ue.Err)
	}
	return err
}

// newClient returns a client with the request timeout d.
func newClient(base *url.URL, token string, d time.Duration) *client {
	return &client{base: base, token: token, http: &http.Client{Timeout: d}}
}
