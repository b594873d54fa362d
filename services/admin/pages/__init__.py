"""Server-rendered HTML pages (Jinja + vendored htmx), one module per feature."""

from services.admin.pages.dashboard import dashboard, dashboard_live
from services.admin.pages.files import FilePages
from services.admin.pages.login import login, login_form, logout
from services.admin.pages.servers import ServerPages
from services.admin.pages.uploads import upload, upload_form, upload_progress

PAGES = [
    dashboard,
    dashboard_live,
    FilePages,
    ServerPages,
    login_form,
    login,
    logout,
    upload_form,
    upload,
    upload_progress,
]
