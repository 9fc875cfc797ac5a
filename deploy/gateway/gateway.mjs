// The official Wechaty gateway for linggong: wechaty-puppet-service's PuppetServer in front of
// a WeChat puppet chosen by LINGGONG_GATEWAY_PUPPET (wechat4u, xp, padlocal, or mock for tests).
//
// Settings (environment variables):
//   LINGGONG_GATEWAY_PUPPET    wechat4u (default) | xp | padlocal | mock
//   LINGGONG_GATEWAY_ENDPOINT  where to listen, default 127.0.0.1:8789
//   LINGGONG_GATEWAY_TOKEN     the token the bot must present ([wechat] token); when unset, a
//                              random one is made once and kept in token.txt beside this file
//   LINGGONG_GATEWAY_TLS_CERT, LINGGONG_GATEWAY_TLS_KEY
//                              PEM files: serve TLS (the bot then needs [wechat] tls = true);
//                              without them the gateway speaks plain HTTP/2, as python-wechaty needs
//   WECHATY_PUPPET_PADLOCAL_TOKEN  PadLocal's own token (puppet padlocal only)
//   LINGGONG_GATEWAY_REPLAY_SECONDS  message events of this many seconds before a bot's connection
//                              ended are delivered again to its next connection (default 60)
//   LINGGONG_GATEWAY_WORLD, LINGGONG_GATEWAY_CONTROL
//                              puppet mock only: the simulated world (JSON) and the control port
//
// Scan (QR), login and logout events reach the bot through the gateway's event stream, as
// puppet-service forwards them; they are also printed here so whoever runs it can scan.

import { randomUUID } from 'node:crypto'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

import { PuppetServer } from 'wechaty-puppet-service'

const HERE = dirname(fileURLToPath(import.meta.url))
const env = process.env

function fail (message) {
  console.error(`[网关] ${message}`)
  process.exit(2)
}

function say (message) {
  console.log(`[网关] ${message}`)
}

function tokenOf () {
  if (env.LINGGONG_GATEWAY_TOKEN) return env.LINGGONG_GATEWAY_TOKEN
  const file = join(HERE, 'token.txt')
  if (existsSync(file)) return readFileSync(file, 'utf8').trim()
  const token = `insecure_${randomUUID()}`
  writeFileSync(file, token + '\n', { mode: 0o600 })
  say(`已生成令牌并写入 ${file}：请把它填进机器人 config.toml 的 [wechat] token`)
  return token
}

async function makePuppet (kind) {
  try {
    switch (kind) {
      case 'wechat4u': {
        const { PuppetWechat4u } = await import('wechaty-puppet-wechat4u')
        return { puppet: new PuppetWechat4u() }
      }
      case 'xp': {
        const { PuppetXp } = await import('wechaty-puppet-xp')
        return { puppet: new PuppetXp() }
      }
      case 'padlocal': {
        if (!env.WECHATY_PUPPET_PADLOCAL_TOKEN) {
          fail('puppet padlocal 需要环境变量 WECHATY_PUPPET_PADLOCAL_TOKEN（PadLocal 的令牌）')
        }
        const { PuppetPadlocal } = await import('wechaty-puppet-padlocal')
        return { puppet: new PuppetPadlocal({ token: env.WECHATY_PUPPET_PADLOCAL_TOKEN }) }
      }
      case 'mock': {
        const { startMock } = await import('./mock-world.mjs')
        return await startMock(env)
      }
      default:
        return fail(`LINGGONG_GATEWAY_PUPPET=${kind} 不认识：可选 wechat4u、xp、padlocal、mock`)
    }
  } catch (error) {
    if (error && error.code === 'ERR_MODULE_NOT_FOUND') {
      const pkg = { xp: 'wechaty-puppet-xp@1.13.12', padlocal: 'wechaty-puppet-padlocal@1.20.1' }[kind]
      fail(`没有安装 puppet ${kind}：请在 deploy/gateway 里先运行 npm install --save-exact ${pkg || kind}`)
    }
    throw error
  }
}

// Message events are delivered at least once, not at most once: the official server hands each
// event to the event stream open at that moment and forgets it, so a message arriving while the
// bot restarts, or written to the connection of a bot that was just killed, would be gone.  Here
// the events emitted while no bot is connected wait for the next one, and those of the last
// REPLAY seconds before a bot's stream ended are delivered again to the next stream.  The bot
// keeps a record of what it handled and drops the repeats.
function keepMessages (puppet, replaySeconds, limit = 10000) {
  const emit = puppet.emit.bind(puppet)
  const recent = [] // { payload, at } of every message event, the last `limit`
  let waiting = [] // emitted while no bot was connected
  let lastEnd = 0 // when the last bot's stream ended
  puppet.emit = (event, ...args) => {
    if (event === 'message') {
      recent.push({ payload: args[0], at: Date.now() })
      if (recent.length > limit) recent.shift()
      if (puppet.listenerCount('message') === 0) {
        waiting.push(args[0])
        if (waiting.length > limit) waiting.shift()
        return false
      }
    }
    return emit(event, ...args)
  }
  puppet.on('removeListener', (event) => {
    if (event === 'message' && puppet.listenerCount('message') === 0) lastEnd = Date.now()
  })
  puppet.on('newListener', (event) => {
    if (event !== 'message' || puppet.listenerCount('message') > 0) return
    const since = lastEnd - replaySeconds * 1000
    const again = lastEnd ? recent.filter((r) => r.at >= since && r.at <= lastEnd).map((r) => r.payload) : []
    const queued = waiting
    waiting = []
    if (again.length + queued.length === 0) return
    say(`向重新连上的机器人补发 ${again.length + queued.length} 条消息事件（机器人会跳过已处理的）`)
    setImmediate(() => { for (const payload of [...again, ...queued]) emit('message', payload) })
  })
}

function watch (puppet) {
  puppet.on('scan', ({ qrcode, status }) => {
    say(`请用机器人的微信扫码登录（状态 ${status}）：${qrcode || ''}`)
  })
  puppet.on('login', ({ contactId }) => say(`已登录：${contactId}`))
  puppet.on('logout', ({ contactId, data }) => say(`已退出登录：${contactId} ${data || ''}`))
  puppet.on('error', (error) => console.error('[网关] puppet 报错：', error && (error.message || error)))
}

async function main () {
  const kind = env.LINGGONG_GATEWAY_PUPPET || 'wechat4u'
  const endpoint = env.LINGGONG_GATEWAY_ENDPOINT || '127.0.0.1:8789'
  if (!/^[^:\s]+:\d+$/.test(endpoint)) fail(`LINGGONG_GATEWAY_ENDPOINT=${endpoint} 应当像 127.0.0.1:8789`)
  const token = tokenOf()
  const cert = env.LINGGONG_GATEWAY_TLS_CERT
  const key = env.LINGGONG_GATEWAY_TLS_KEY
  if (Boolean(cert) !== Boolean(key)) fail('LINGGONG_GATEWAY_TLS_CERT 和 LINGGONG_GATEWAY_TLS_KEY 要一起设置')
  const tls = cert
    ? { serverCert: readFileSync(cert, 'utf8'), serverKey: readFileSync(key, 'utf8') }
    : { disable: true }

  const replay = Number(env.LINGGONG_GATEWAY_REPLAY_SECONDS ?? 60)
  if (!(replay >= 0)) fail(`LINGGONG_GATEWAY_REPLAY_SECONDS=${env.LINGGONG_GATEWAY_REPLAY_SECONDS} 应当是秒数，如 60`)

  const { puppet, control } = await makePuppet(kind)
  watch(puppet)
  keepMessages(puppet, replay)
  const server = new PuppetServer({ endpoint, puppet, token, tls })
  await server.start()
  say(`网关已启动：${endpoint}（puppet ${kind}，${cert ? 'TLS' : '未加密，只应监听本机'}）`)
  // One machine-readable line for whoever started it (the tests read it).
  console.log(JSON.stringify({ ready: true, endpoint, puppet: kind, tls: Boolean(cert), control: control || null }))

  let stopping = false
  const stop = async () => {
    if (stopping) return
    stopping = true
    say('正在停止网关…')
    try {
      await server.stop()
      if (puppet.isLoggedIn !== undefined) await puppet.stop()
    } finally {
      process.exit(0)
    }
  }
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
}

main().catch((error) => {
  console.error('[网关] 启动失败：', error)
  process.exit(1)
})
