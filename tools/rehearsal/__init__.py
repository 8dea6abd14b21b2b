"""The deploy rehearsal against moto: e2e, the emulator server, upgrade, permission check."""
