"""The Streamlit dashboard: ``common`` (sidebar, cached model and analyses, error display) and
one module per page in ``pages/``. Pages only draw; computation is in :mod:`interp`."""
