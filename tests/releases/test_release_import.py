import pytest
from portal import roles
from releases.models import Release
from tests import factories as f

pytestmark = pytest.mark.django_db


def test_smoke(client_for):
    from django.core.files.uploadedfile import SimpleUploadedFile
    app = f.ApplicationFactory(key="PAY")
    c = client_for(roles.RELEASE_MANAGER)
    assert c.get("/releases/import/").status_code == 200
    body = "Application,Version,Target date,Depends on\nPAY,1.0,2030-02-01,\npay,1.1,2030-03-01,PAY 1.0\n"
    r = c.post("/releases/import/", {"file": SimpleUploadedFile("a.csv", body.encode())})
    print(r.status_code, r.content.decode()[-3000:])
    import re
    payload = re.search(r'name="payload" value="([^"]+)"', r.content.decode()).group(1)
    r = c.post("/releases/import/confirm/", {"payload": payload})
    print(r.status_code, r.get("Location"))
    print(list(Release.objects.values_list("version", "upstream_links__upstream__version")))
    x = c.get("/releases/import/template.xlsx")
    print(x.status_code, len(x.content))
