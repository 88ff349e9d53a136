"""The web upload page: a signed, expiring link bound to one session, for files above a platform's limit.

The page is plain HTML with a small script for the progress bar; without JavaScript the form still posts
and the answer is a page. The file streams through the same checks as any upload (size as bytes arrive,
content sniffing, nothing kept on refusal).
"""

from __future__ import annotations

import base64
import hashlib
import html
from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from backend.api import schemas as s
from backend.api.deps import PathSession, backend_of
from backend.api.limits import upload_pace, upload_slot
from backend.core.errors import ApiError, envelope, error_response
from backend.core.i18n import t
from backend.core.signing import sign, verify
from backend.intake.receive import receive_multipart, size_text, too_large
from backend.runtime.accept import accept

PAGE_TEXT = {
    "en": {
        "title": "Send a file to your voiceover chat",
        "pick": "Choose a video, audio or script file (up to {limit}).",
        "send": "Upload",
        "done": "Uploaded. You can go back to the chat.",
        "sending": "Uploading…",
    },
    "zh": {
        "title": "向配音对话发送文件",
        "pick": "选择视频、音频或脚本文件（最大 {limit}）。",
        "send": "上传",
        "done": "上传完成，可以回到聊天了。",
        "sending": "正在上传…",
    },
}

STYLE = """
body{font-family:system-ui,-apple-system,sans-serif;margin:0;background:#f4f5f7;color:#1d2330}
main{max-width:32rem;margin:0 auto;padding:1.5rem}
h1{font-size:1.3rem}.card{background:#fff;border-radius:12px;padding:1.2rem;box-shadow:0 1px 4px #0002}
input[type=file]{width:100%;margin:1rem 0;font-size:1rem}
button{width:100%;padding:.8rem;font-size:1.05rem;border:0;border-radius:8px;background:#2d6cdf;color:#fff}
button:disabled{background:#9db7e8}progress{width:100%;height:1.2rem;margin-top:1rem}
#status{margin-top:.8rem;min-height:1.4em}.err{color:#b3261e}.ok{color:#1b7f3b}
"""

SCRIPT = """
const f=document.getElementById('f'),b=document.getElementById('b'),p=document.getElementById('p'),
s=document.getElementById('s');
f.addEventListener('submit',e=>{e.preventDefault();const file=document.getElementById('file').files[0];
if(!file)return;const d=new FormData();d.append('files',file);const x=new XMLHttpRequest();
x.open('POST',f.action);x.setRequestHeader('Accept','application/json');b.disabled=true;p.hidden=false;
s.className='';s.textContent=b.dataset.sending;
x.upload.onprogress=ev=>{if(ev.lengthComputable){p.value=ev.loaded/ev.total;
s.textContent=b.dataset.sending+' '+Math.round(100*ev.loaded/ev.total)+'%';}};
x.onload=()=>{let r={};try{r=JSON.parse(x.responseText)}catch(_){}
if(r.code===0){p.value=1;s.className='ok';s.textContent=b.dataset.done;}
else{s.className='err';s.textContent=r.message||('Error '+x.status);b.disabled=false;}};
x.onerror=()=>{s.className='err';s.textContent='Network error';b.disabled=false;};x.send(d);});
"""

# With S3 storage (backend.api.direct_upload): ask for a presigned form, post the file to the storage,
# then tell the backend. Without JavaScript the form still posts to the backend.
DIRECT_SCRIPT = """
const f=document.getElementById('f'),b=document.getElementById('b'),p=document.getElementById('p'),
s=document.getElementById('s'),q=location.search;
const fail=m=>{s.className='err';s.textContent=m;b.disabled=false;};
const ask=(u,o)=>fetch(u+q,{method:'POST',headers:{'Accept':'application/json',
'Content-Type':'application/json'},body:JSON.stringify(o)}).then(r=>r.json());
f.addEventListener('submit',async e=>{e.preventDefault();const file=document.getElementById('file').files[0];
if(!file)return;b.disabled=true;p.hidden=false;s.className='';s.textContent=b.dataset.sending;let r;
try{r=await ask(f.dataset.direct,{name:file.name,size:file.size})}catch(_){return fail('Network error')}
if(r.code!==0)return fail(r.message);const d=new FormData();
for(const [k,v] of Object.entries(r.data.fields))d.append(k,v);d.append('file',file);
const x=new XMLHttpRequest();x.open('POST',r.data.url);
x.upload.onprogress=ev=>{if(ev.lengthComputable){p.value=ev.loaded/ev.total;
s.textContent=b.dataset.sending+' '+Math.round(100*ev.loaded/ev.total)+'%';}};
x.onload=async()=>{if(x.status<200||x.status>299)return fail('Error '+x.status);let a;
try{a=await ask(f.dataset.direct+'/done',{key:r.data.key,name:file.name})}catch(_){return fail('Network error')}
if(a.code===0){p.value=1;s.className='ok';s.textContent=b.dataset.done;}else fail(a.message||'Error');};
x.onerror=()=>fail('Network error');x.send(d);});
"""


def direct_headers(storage: str) -> dict[str, str]:
    """The page's headers when the browser also talks to the storage at ``storage`` (its origin)."""
    origin = "/".join(storage.split("/")[:3])
    csp = SECURITY_HEADERS["Content-Security-Policy"]
    csp = csp.replace(_hash(SCRIPT), _hash(DIRECT_SCRIPT))
    csp = csp.replace("connect-src 'self'", f"connect-src 'self' {origin}")
    return {**SECURITY_HEADERS, "Content-Security-Policy": csp}


router = APIRouter(tags=["web upload"])
Signed = Annotated[str | None, Query(description="from the signed link")]
HTML: dict[str, Any] = {"content": {"text/html": {}}}


def _hash(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


# The page may run only its own script and style, post only to itself, and never be framed (its
# signed link is a capability: no clickjacking, no referrer carrying it elsewhere).
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        f"default-src 'none'; script-src {_hash(SCRIPT)}; style-src {_hash(STYLE)}; "
        "connect-src 'self'; form-action 'self'; img-src 'self'; base-uri 'none'; "
        "frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _page(
    title: str, body: str, status: int = 200, headers: dict[str, str] | None = None
) -> HTMLResponse:
    return HTMLResponse(
        "<!doctype html><html><head><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width,initial-scale=1'>"
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>"
        f"<body><main><h1>{html.escape(title)}</h1><div class=card>{body}</div></main></body></html>",
        status_code=status,
        headers=headers or SECURITY_HEADERS,
    )


def _secured(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    return response


@router.post(
    "/api/upload-link/nemo_agent/me/{sid}",
    response_model=s.Envelope[s.UploadLink],
    responses=s.ERRORS,
)
async def create_link(request: Request, session: PathSession) -> JSONResponse:
    """``POST /api/upload-link/nemo_agent/me/<sid>``: a signed page URL for this session."""
    sid = session.sid
    backend = backend_of(request)
    path, expires = sign(
        backend.settings.secret(), f"/upload/{sid}", backend.settings.upload_link_ttl_seconds
    )
    return envelope(
        {
            "url": backend.settings.base_url + path,
            "expires_at": expires,
            "max_bytes": backend.settings.max_upload_bytes,
        }
    )


async def _checked(request: Request) -> tuple[str, str, str] | Response:
    """(session, language, owner identity) of a valid signed link, or the 403 page."""
    backend = backend_of(request)
    sid = request.path_params["sid"]
    q = request.query_params
    found = await backend.store.session(sid)
    lang = found[1] if found else "en"
    if found is None or not verify(
        backend.settings.secret(), f"/upload/{sid}", q.get("exp"), q.get("sig")
    ):
        return _page(
            "Link not valid", f"<p class=err>{html.escape(t('link_expired', lang))}</p>", 403
        )
    return sid, lang, found[0]


@router.get(
    "/upload/{sid}",
    response_class=HTMLResponse,
    responses={403: {**HTML, "description": "Expired or tampered link"}},
)
async def page(request: Request, sid: str, exp: Signed = None, sig: Signed = None) -> Response:
    """The upload page of a signed link (no token)."""
    checked = await _checked(request)
    if isinstance(checked, Response):
        return checked
    sid, lang, _owner = checked
    words = PAGE_TEXT[lang]
    action = html.escape(f"/upload/{sid}/files?{request.url.query}")
    settings = backend_of(request).settings
    direct = backend_of(request).objects.remote  # S3: the browser sends the file there
    body = (
        f"<p>{html.escape(words['pick'].format(limit=size_text(backend_of(request).settings.max_upload_bytes)))}</p>"
        f"<form id=f method=post enctype=multipart/form-data action='{action}'"
        + (f" data-direct='/upload/{html.escape(sid)}/direct'>" if direct else ">")
        + "<input id=file type=file name=files required>"
        f"<button id=b data-sending='{html.escape(words['sending'])}' data-done='{html.escape(words['done'])}'>"
        f"{html.escape(words['send'])}</button></form>"
        "<progress id=p value=0 max=1 hidden></progress><div id=s role=status></div>"
        f"<script>{DIRECT_SCRIPT if direct else SCRIPT}</script>"
    )
    storage = settings.s3_public_endpoint or settings.s3_endpoint
    return _page(words["title"], body, headers=direct_headers(storage) if direct else None)


@router.post(
    "/upload/{sid}/files",
    response_class=HTMLResponse,
    responses={
        200: {**HTML, "content": {**HTML["content"], "application/json": {}}},
        **s.ERRORS,
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"multipart/form-data": {"schema": s.MULTIPART_FILES}},
        }
    },
)
async def receive(request: Request, sid: str, exp: Signed = None, sig: Signed = None) -> Response:
    """The page's form: multipart ``files`` streamed to disk; the envelope with
    ``Accept: application/json``, else a page."""
    checked = await _checked(request)
    wants_json = "application/json" in request.headers.get("accept", "")
    if isinstance(checked, Response):
        if wants_json:
            return _secured(envelope({}, 4003, t("link_expired")))
        return checked
    sid, lang, owner = checked
    backend = backend_of(request)
    settings = backend.settings
    declared = request.headers.get("content-length", "").strip()
    try:
        if (
            declared.isascii()
            and declared.isdigit()
            and int(declared) > settings.max_upload_bytes + 1024 * 1024
        ):
            raise too_large(lang, settings.max_upload_bytes)
        folder = settings.data_dir / "sessions" / sid / "media"
        async with upload_slot(request, owner, settings.max_uploads_per_identity, lang):
            received = await receive_multipart(
                request.headers.get("content-type", ""),
                request.stream(),
                folder,
                settings.max_upload_bytes,
                lang,
                upload_pace(settings),
            )
            data = await accept(backend, sid, lang, received)
    except ApiError as exc:
        if wants_json:
            return _secured(error_response(exc))
        return _page(PAGE_TEXT[lang]["title"], f"<p class=err>{html.escape(exc.message)}</p>", 400)
    if wants_json:
        return _secured(envelope(data))
    return _page(
        PAGE_TEXT[lang]["title"], f"<p class=ok>{html.escape(PAGE_TEXT[lang]['done'])}</p>"
    )
