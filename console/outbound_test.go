package console_test

import (
	"encoding/json"
	"html"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/hookstream/hookstream/internal/testenv"
)

// The endpoint page shows what goes out: the payload format, the
// signature scheme with an Ed25519 endpoint's public key, and the filter.
func TestEndpointPageShowsOutbound(t *testing.T) {
	s := newSite(t, false)
	req, _ := http.NewRequest("POST", s.url+"/v1/endpoints", strings.NewReader(`{"url":"http://127.0.0.1:9/a","event_types":["invoice.*"],
		"payload_format":"cloudevents-structured","signature_scheme":"ed25519","filter":"data.amount >= 1000 && type != \"x\""}`))
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	testenv.Must(t, err, "create endpoint")
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var ep struct{ ID, PublicKey string }
	var raw map[string]any
	testenv.Must(t, json.Unmarshal(body, &raw), "decode")
	ep.ID, _ = raw["id"].(string)
	ep.PublicKey, _ = raw["public_key"].(string)
	if resp.StatusCode != http.StatusCreated || ep.PublicKey == "" {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	b := s.browser(t)
	b.login()
	p := b.get("/console/t/default/endpoints/" + ep.ID)
	if p.status != http.StatusOK {
		t.Fatalf("endpoint page: %d", p.status)
	}
	text := html.UnescapeString(p.body)
	for _, want := range []string{"cloudevents-structured", "ed25519", ep.PublicKey, `data.amount >= 1000 && type != "x"`} {
		if !strings.Contains(text, want) {
			t.Errorf("the endpoint page does not show %q", want)
		}
	}
	if strings.Contains(text, "whsk_") {
		t.Error("the endpoint page shows a private key")
	}
}
