package main

import "github.com/spf13/cobra"

func (c *cli) listenCmd() *cobra.Command {
	return &cobra.Command{Use: "listen", Short: "Forward the tenant's events to a local URL"}
}
