"""Foundations: errors, settings, devices, hook names, components, models, reference models,
the resumed forward, interventions, metrics, tokens and corpora. Imports nothing above it."""
