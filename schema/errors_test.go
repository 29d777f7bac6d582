package schema_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/hookstream/hookstream/schema"
)

func TestErrorCode(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"plain", errors.New("connection refused"), schema.EInternal},
		{"sentinel", schema.ErrNotFound, schema.ENotFound},
		{"wrapped sentinel", fmt.Errorf("postgres: endpoint: %w", schema.ErrNotFound), schema.ENotFound},
		{"data refused", fmt.Errorf("write: %w: %w", schema.ErrInvalidData, errors.New("22P05")), schema.EInvalid},
		{"field error", &schema.FieldError{Field: "type", Reason: "too long"}, schema.EInvalid},
		{"errorf", schema.Errorf(schema.EConflict, "endpoint %s", "ep_1"), schema.EConflict},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := schema.ErrorCode(tc.err); got != tc.want {
				t.Errorf("ErrorCode(%v) = %q, want %q", tc.err, got, tc.want)
			}
		})
	}
}

func TestSentinelsAreDistinct(t *testing.T) {
	// ErrRetrying and ErrRedriven share a code but not an identity: callers
	// tell them apart with errors.Is.
	if errors.Is(schema.ErrRetrying, schema.ErrRedriven) || errors.Is(schema.ErrEventGone, schema.ErrEndpointGone) {
		t.Fatal("sentinels with one code match each other")
	}
}
