package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// apiCall does one request to bucketdesk's API at base with token as the
// bearer (none when empty), body as JSON (none when nil), and decodes the
// JSON answer into out (when not nil). An answer other than want is an
// error, carrying its body when it is a failure (a problem's detail).
func apiCall(ctx context.Context, client *http.Client, base, token, method, path string, body any, want int, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		return err
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	if res.StatusCode != want {
		if res.StatusCode < 300 {
			// A success of another kind may carry a token or a ticket:
			// its body stays out of the error, which may be printed.
			return fmt.Errorf("%s %s: %d, want %d", method, path, res.StatusCode, want)
		}
		return fmt.Errorf("%s %s: %d %s", method, path, res.StatusCode, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}
