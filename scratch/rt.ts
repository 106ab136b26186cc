import { Pool } from 'undici';
const p = new Pool('http://127.0.0.1:28101', { connections: 1 });
for (const path of ['/health', '/v1/accounts/1']) {
  const xs: number[] = [];
  for (let i = 0; i < 200; i++) {
    const t = performance.now();
    const r = await p.request({ method: 'GET', path });
    await r.body.text();
    xs.push(performance.now() - t);
  }
  xs.sort((a, b) => a - b);
  console.log(path, xs[100]!.toFixed(2), xs[198]!.toFixed(2));
}
await p.close();
