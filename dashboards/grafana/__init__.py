"""The Grafana wall as code: four dashboards (city live, alerts, planning, pipeline health) in
Vietnamese and English, built with grafana-foundation-sdk, and their provisioning."""
