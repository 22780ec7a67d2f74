def submit_login(page, username: str, password: str) -> None:
    """Fill in and send the login form the page is on."""
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
