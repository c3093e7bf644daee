"""JupyterHub for a class on one machine: every student gets JupyterLab in the course's environment.

This is the configuration that tests/test_hub.py starts. Try it from the course folder:

    CVCOURSE_HUB_PASSWORD=choose-a-password CVCOURSE_HUB_STUDENTS=alice,bob \
        .venv/bin/jupyterhub -f deploy/jupyterhub/jupyterhub_config.py

then open http://127.0.0.1:8000 and log in as alice with that password. JupyterHub writes its
database, cookie secret and proxy pid file into the folder it is started from.

It is a trial set-up, not a deployment: one shared password (SharedPasswordAuthenticator) and
every student's server running as the user who started the hub, with a home folder under
CVCOURSE_HUB_HOME (SimpleLocalProcessSpawner: no isolation between students). A real hub swaps
these two lines for a real authenticator and spawner; README.md ("Teaching a class") says which.

Environment variables:
    CVCOURSE_HUB_PASSWORD     the students' shared password (at least 8 characters; required)
    CVCOURSE_HUB_STUDENTS     comma-separated user names allowed to log in (default: any name)
    CVCOURSE_HUB_HOME         the folder holding one home folder per student (default: ./homes)
    CVCOURSE_HUB_ADMIN_TOKEN  if set, an API token with the admin role, for scripts (service "cvcourse-admin")
"""
import os
import shutil
import sys
from pathlib import Path

c = get_config()  # noqa: F821 - JupyterHub provides it

# Only this machine can reach the hub: put a reverse proxy with TLS in front for a real class.
c.JupyterHub.bind_url = "http://127.0.0.1:8000"
c.JupyterHub.hub_ip = "127.0.0.1"

# configurable-http-proxy comes from the npm registry: on PATH, or where `make` installs it (.venv/node).
# (The same search as cvcourse_utils.hub.find_proxy, written out so that the hub does not import the course.)
if shutil.which("configurable-http-proxy") is None:
    for prefix in (Path(sys.prefix), Path(__file__).resolve().parents[2] / ".venv"):
        proxy = prefix / "node" / "node_modules" / ".bin" / "configurable-http-proxy"
        if proxy.is_file():
            c.ConfigurableHTTPProxy.command = [str(proxy)]
            break

# Who may log in: a shared password for a trial (a real hub: an OAuth or LTI authenticator, see README).
c.JupyterHub.authenticator_class = "shared-password"
password = os.environ.get("CVCOURSE_HUB_PASSWORD", "")
if len(password) < 8:
    sys.exit("jupyterhub_config.py: set CVCOURSE_HUB_PASSWORD to the students' shared password (8 characters or more)")
c.SharedPasswordAuthenticator.user_password = password
students = [name.strip() for name in os.environ.get("CVCOURSE_HUB_STUDENTS", "").split(",") if name.strip()]
if students:
    c.Authenticator.allowed_users = set(students)
else:
    c.Authenticator.allow_all = True

# Where their servers run: a process per student, as this user, in its own home folder.
c.JupyterHub.spawner_class = "simple"
home = Path(os.environ.get("CVCOURSE_HUB_HOME", "homes")).resolve()
c.SimpleLocalProcessSpawner.home_dir_template = str(home / "{username}")
# The course's own interpreter runs each server, so every student has the course's packages and kernel.
c.Spawner.cmd = [sys.executable, "-m", "jupyterhub.singleuser"]
c.Spawner.default_url = "/lab"
if os.getuid() == 0:  # Jupyter refuses to run as root (containers, CI) unless told that this is intended
    c.Spawner.args = ["--allow-root"]
# A busy machine starts Python slowly: wait longer than JupyterHub's defaults before giving up.
c.Spawner.start_timeout = 180
c.Spawner.http_timeout = 120

token = os.environ.get("CVCOURSE_HUB_ADMIN_TOKEN")
if token:
    c.JupyterHub.services = [{"name": "cvcourse-admin", "api_token": token}]
    c.JupyterHub.load_roles = [{"name": "admin", "services": ["cvcourse-admin"]}]
