package postgres_test

import (
	"context"
	"errors"
	"strconv"
	"testing"

	"github.com/hookstream/hookstream/internal/testenv"
	"github.com/hookstream/hookstream/schema"
)

func TestCreateEndpointLimit(t *testing.T) {
	db := newTestDB(t)
	ctx := context.Background()
	limited := func(id, tenant string, limit int) error {
		ne := newEndpoint(id, tenant)
		ne.MaxPerTenant = limit
		_, err := db.CreateEndpoint(ctx, ne)
		return err
	}
	for i := range 2 {
		testenv.Must(t, limited("ep_"+strconv.Itoa(i), "default", 2), "CreateEndpoint under the limit")
	}
	tests := []struct {
		name, id, tenant string
		limit            int
		want             error
	}{
		{"at the limit", "ep_x", "default", 2, schema.ErrLimitReached},
		{"a higher limit", "ep_y", "default", 3, nil},
		{"a lower limit than the tenant has", "ep_z", "default", 1, schema.ErrLimitReached},
		{"no limit", "ep_w", "default", 0, nil},
		{"unknown tenant", "ep_v", "nobody", 5, schema.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := limited(tt.id, tt.tenant, tt.limit); !errors.Is(err, tt.want) {
				t.Errorf("CreateEndpoint(limit %d) = %v, want %v", tt.limit, err, tt.want)
			}
		})
	}
	n, err := db.CountEndpoints(ctx, "default")
	testenv.Must(t, err, "CountEndpoints")
	if n != 4 {
		t.Errorf("CountEndpoints = %d, want 4", n)
	}
}

func TestCountMatchingEndpoints(t *testing.T) {
	db := newTestDB(t)
	ctx := context.Background()
	for i, types := range [][]string{{"invoice.*"}, {"invoice.paid"}, {"*"}, {"user.created"}, {"hookstream.*"}} {
		ne := newEndpoint("ep_"+strconv.Itoa(i), "default")
		ne.EventTypes = types
		createEndpoint(t, db, ne)
	}
	tests := []struct {
		typ    string
		atMost int
		want   int
	}{
		{"invoice.paid", 10, 3},
		{"invoice.paid", 2, 2}, // stops counting
		{"invoice.voided", 10, 2},
		{"user.created", 10, 2},
		{"order.shipped", 10, 1},
		{"hookstream.endpoint.disabled", 10, 1}, // "*" does not take hookstream's own
	}
	for _, tt := range tests {
		t.Run(tt.typ+"/"+strconv.Itoa(tt.atMost), func(t *testing.T) {
			n, err := db.CountMatchingEndpoints(ctx, "default", tt.typ, tt.atMost)
			testenv.Must(t, err, "CountMatchingEndpoints")
			if n != tt.want {
				t.Errorf("CountMatchingEndpoints(%s, %d) = %d, want %d", tt.typ, tt.atMost, n, tt.want)
			}
		})
	}
	if n, err := db.CountMatchingEndpoints(ctx, "other", "invoice.paid", 10); err != nil || n != 0 {
		t.Errorf("another tenant: %d, %v; want 0", n, err)
	}
}
