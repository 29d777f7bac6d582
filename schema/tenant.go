package schema

import "time"

// Tenant owns endpoints, events, deliveries and API keys.
type Tenant struct {
	ID        string
	Name      string
	CreatedAt time.Time
}

// APIKey is a tenant's API key, without its secret.
type APIKey struct {
	ID         string
	Tenant     string
	Name       string
	CreatedAt  time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
}
